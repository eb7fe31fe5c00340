"""live transcription: keyword alerts heard while a call is up

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.String(length=16), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("centre", sa.String(length=16), nullable=True),
        sa.Column("phrase", sa.String(length=64), nullable=False),
        sa.Column("speaker", sa.String(length=16), nullable=True),
        sa.Column("offset", sa.Float(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"]),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("live_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_live_alerts_raised_at", ["raised_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_live_alerts_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_live_alerts_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("live_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_alerts_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_live_alerts_call_id"))
        batch_op.drop_index("ix_live_alerts_raised_at")
    op.drop_table("live_alerts")
