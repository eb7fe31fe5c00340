"""tickets: the portal's done tab (a department's history newest first) by index

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 05:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tickets_department_updated", "tickets", ["department", "updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_department_updated", table_name="tickets")
