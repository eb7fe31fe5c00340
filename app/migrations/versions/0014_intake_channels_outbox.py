"""intake from the non-phone channels: idempotency keys, query codes, push-back outbox,
first-reply SLA on tickets

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-10 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("channel", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("first_reply_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("first_reply_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "intake_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("query_code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "external_id", name="uq_intake_requests_channel_external"),
        sa.UniqueConstraint("ticket_id"),
    )
    op.create_table(
        "push_backs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_push_backs_status_next", "push_backs", ["status", "next_at"])
    op.create_index("ix_push_backs_ticket_id", "push_backs", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_push_backs_ticket_id", table_name="push_backs")
    op.drop_index("ix_push_backs_status_next", table_name="push_backs")
    op.drop_table("push_backs")
    op.drop_table("intake_requests")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("first_reply_at")
        batch.drop_column("first_reply_due_at")
        batch.drop_column("channel")
