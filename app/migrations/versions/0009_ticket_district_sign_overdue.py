"""case loop gaps: the ticket's district, the sign-for overdue flag, department deactivation

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("district", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("sign_overdue_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_tickets_state_sign_due", ["state", "sign_due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_state_sign_due")
        batch_op.drop_column("sign_overdue_at")
        batch_op.drop_column("district")
    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.drop_column("active")
