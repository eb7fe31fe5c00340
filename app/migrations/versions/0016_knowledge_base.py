"""knowledge base (知识库): articles, their versions, the direct answers citing them, and the
Chinese full-text index (SQLite FTS5 table with triggers; PostgreSQL tsvector + GIN; per-word
article counts on both)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-18 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The article's tokens (knowledge.index_tokens, space-joined) are indexed as they are: FTS5's
# unicode61 tokenizer and PostgreSQL's 'simple' configuration only split on the spaces.
# Question words weigh more than the answer's (bm25 column weights; tsvector weights A, B).
_SQLITE = [
    "CREATE VIRTUAL TABLE kb_articles_fts USING fts5("
    "question_tokens, body_tokens, content='kb_articles', content_rowid='id')",
    "CREATE TRIGGER kb_articles_fts_insert AFTER INSERT ON kb_articles BEGIN "
    "INSERT INTO kb_articles_fts(rowid, question_tokens, body_tokens) "
    "VALUES (new.id, new.question_tokens, new.body_tokens); END",
    "CREATE TRIGGER kb_articles_fts_delete AFTER DELETE ON kb_articles BEGIN "
    "INSERT INTO kb_articles_fts(kb_articles_fts, rowid, question_tokens, body_tokens) "
    "VALUES ('delete', old.id, old.question_tokens, old.body_tokens); END",
    # Only a change of the text reindexes (not a use count going up).
    "CREATE TRIGGER kb_articles_fts_update AFTER UPDATE OF question_tokens, body_tokens "
    "ON kb_articles BEGIN "
    "INSERT INTO kb_articles_fts(kb_articles_fts, rowid, question_tokens, body_tokens) "
    "VALUES ('delete', old.id, old.question_tokens, old.body_tokens); "
    "INSERT INTO kb_articles_fts(rowid, question_tokens, body_tokens) "
    "VALUES (new.id, new.question_tokens, new.body_tokens); END",
]
_POSTGRES = [
    "ALTER TABLE kb_articles ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('simple'::regconfig, question_tokens), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, body_tokens), 'B')) STORED",
    "CREATE INDEX ix_kb_articles_search ON kb_articles USING gin (search_vector)",
]


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=500), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("question_tokens", sa.Text(), nullable=False),
        sa.Column("body_tokens", sa.Text(), nullable=False),
        sa.Column("use_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_kb_articles_department", "kb_articles", ["department"])
    op.create_table(
        "kb_article_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=500), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("edited_by", sa.String(length=64), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("article_id", "version", name="uq_kb_article_versions"),
    )
    op.create_table(
        "kb_terms",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("docs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term"),
    )
    op.create_table(
        "kb_uses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"]),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id"),
    )
    op.create_index("ix_kb_uses_article_id", "kb_uses", ["article_id"])
    for statement in _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE kb_articles_fts")  # its triggers go with kb_articles
    op.drop_index("ix_kb_uses_article_id", table_name="kb_uses")
    op.drop_table("kb_uses")
    op.drop_table("kb_terms")
    op.drop_table("kb_article_versions")
    op.drop_index("ix_kb_articles_department", table_name="kb_articles")
    op.drop_table("kb_articles")
