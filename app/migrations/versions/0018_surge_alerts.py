"""surge alerts (突增预警) and the tickets behind each

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "surge_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("area_kind", sa.String(length=12), nullable=False),
        sa.Column("area", sa.String(length=200), nullable=False),
        sa.Column("window", sa.String(length=8), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=False),
        sa.Column("robust_z", sa.Float(), nullable=False),
        sa.Column("message", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "category", "area_kind", "area", "window", "window_start", name="uq_surge_alerts_key"
        ),
    )
    op.create_index("ix_surge_alerts_window_start", "surge_alerts", ["window_start"])
    op.create_table(
        "surge_alert_tickets",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["surge_alerts.id"]),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("alert_id", "ticket_id"),
    )
    op.create_index("ix_surge_alert_tickets_ticket_id", "surge_alert_tickets", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_surge_alert_tickets_ticket_id", table_name="surge_alert_tickets")
    op.drop_table("surge_alert_tickets")
    op.drop_index("ix_surge_alerts_window_start", table_name="surge_alerts")
    op.drop_table("surge_alerts")
