"""duplicates (并单): the merged ticket's master, when, its prior state; the master's list;
the candidates' index by category and creation time

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = (
    "draft",
    "registered",
    "answered",
    "dispatched",
    "accepted",
    "disputed",
    "replied",
    "callback",
    "reopened",
    "closed",
    "merged",
)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("merged_into", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("merged_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column(
                "merged_from",
                sa.Enum(*_STATES, name="ticketstate", native_enum=False, length=16),
                nullable=True,
            )
        )
        batch.add_column(
            sa.Column("duplicates", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch.create_foreign_key("fk_tickets_merged_into", "tickets", ["merged_into"], ["id"])
        batch.create_index("ix_tickets_merged_into", ["merged_into"])
        batch.create_index("ix_tickets_category_created", ["category", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_category_created")
        batch.drop_index("ix_tickets_merged_into")
        batch.drop_constraint("fk_tickets_merged_into", type_="foreignkey")
        batch.drop_column("duplicates")
        batch.drop_column("merged_from")
        batch.drop_column("merged_at")
        batch.drop_column("merged_into")
