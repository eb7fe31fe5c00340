"""confidential tickets (保密件): the flag on tickets and the log of unmasked views

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-17 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(
            sa.Column("confidential", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "confidential_views",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("who", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("route", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_confidential_views_ticket_id", "confidential_views", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_confidential_views_ticket_id", table_name="confidential_views")
    op.drop_table("confidential_views")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("confidential")
