"""indexes for the KPI report's period filters (a month of a big city's year)

Each KPI query filters one table by one instant in the period: ``queue_entries.joined_at``,
``calls.started_at``, the registering transition's ``at``, ``tickets.dispatched_at`` /
``published_at`` / ``reply_due_at``, ``callbacks.finished_at`` / ``created_at``. Without
these a month's report scans each table whole (bench/kpis.py measures both).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_queue_entries_joined_at", "queue_entries", ["joined_at"]),
    ("ix_calls_started_at", "calls", ["started_at"]),
    ("ix_ticket_transitions_to_state_at", "ticket_transitions", ["to_state", "at"]),
    ("ix_tickets_dispatched_at", "tickets", ["dispatched_at"]),
    ("ix_tickets_published_at", "tickets", ["published_at"]),
    ("ix_tickets_reply_due_at", "tickets", ["reply_due_at"]),
    ("ix_callbacks_finished_at", "callbacks", ["finished_at"]),
    ("ix_callbacks_created_at", "callbacks", ["created_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
