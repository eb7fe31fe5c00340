"""KPI facts on tickets: the registering move, the direct answer, the 签收 and the reply of
the current round, as columns kept from the audit trail (``app.models.refresh_facts``), and
the caller's previous ticket for the repeat-caller rate (``app.models.refresh_prior``); and
each agent state change's end, for occupancy without ordering a period's changes

A month's report counted these by searching ``ticket_transitions`` per ticket (correlated
EXISTS, a join for the intake cohort): 3-9x one aggregate over the same rows at a third of a
big city (bench/kpis.py). The columns make each KPI an index range over ``tickets``. The
back-fill below applies the rules of ``refresh_facts`` to every ticket in one grouped pass.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "fact_registered_at",
    "fact_answered_at",
    "fact_signed_at",
    "fact_replied_at",
    "fact_caller_prior_at",
    "fact_matter_prior_at",
)

# The first audit row of each kind per ticket (timestamps compare in time order on both
# databases: timestamptz on PostgreSQL, SQLAlchemy's fixed-width UTC text on SQLite).
BACKFILL = """
UPDATE tickets SET
  fact_registered_at = f.registered,
  fact_answered_at = f.answered,
  fact_signed_at = f.signed,
  fact_replied_at = f.replied
FROM (
  SELECT r.ticket_id AS ticket_id,
    min(CASE WHEN r.to_state = 'registered' AND (r.from_state IS NULL OR r.from_state = 'draft')
             THEN r.at END) AS registered,
    min(CASE WHEN r.to_state = 'answered' THEN r.at END) AS answered,
    min(CASE WHEN r.to_state = 'accepted' AND r.at >= t.dispatched_at THEN r.at END) AS signed,
    min(CASE WHEN r.to_state = 'replied' AND r.at >= t.reply_started_at THEN r.at END)
      AS replied
  FROM ticket_transitions r JOIN tickets t ON t.id = r.ticket_id
  GROUP BY r.ticket_id
) AS f
WHERE tickets.id = f.ticket_id
"""

# The caller's latest earlier ticket that is not a draft, any matter and the same category
# (``app.models.refresh_prior``), by the index (caller, created_at). ``|| ''`` keeps SQLite
# off the index (category, created_at): without statistics for the table (an earlier
# migration's batch copy drops them) it picked that one, a scan of all the category's
# earlier tickets per ticket, which never finished at 200 k tickets (bench/kpis.py).
BACKFILL_PRIOR = """
UPDATE tickets SET
  fact_caller_prior_at = (SELECT max(e.created_at) FROM tickets e
    WHERE e.caller = tickets.caller AND e.id != tickets.id AND e.state != 'draft'
      AND e.created_at < tickets.created_at),
  fact_matter_prior_at = (SELECT max(e.created_at) FROM tickets e
    WHERE e.caller = tickets.caller AND e.id != tickets.id AND e.state != 'draft'
      AND e.created_at < tickets.created_at AND e.category || '' = tickets.category)
WHERE tickets.caller IS NOT NULL
"""


# Each agent state change's end: the agent's next change in (at, id) order
# (``app.models.refresh_state_ends``).
BACKFILL_STATE_ENDS = """
UPDATE agent_state_changes SET ended_at = n.next, span_seconds = {seconds}
FROM (SELECT id, LEAD(at) OVER (PARTITION BY agent_id ORDER BY at, id) AS next
        FROM agent_state_changes) AS n
WHERE agent_state_changes.id = n.id AND n.next IS NOT NULL
"""


def state_ends(dialect: str) -> str:
    """The back-fill of the state changes' ends, with ``app.kpis.sql.seconds_between``'s
    rounding on each database."""
    if dialect == "sqlite":
        seconds = "ROUND((julianday(n.next) - julianday(agent_state_changes.at)) * 86400.0, 3)"
    else:
        seconds = "ROUND(CAST(EXTRACT(EPOCH FROM n.next - agent_state_changes.at) AS NUMERIC), 3)"
    return BACKFILL_STATE_ENDS.format(seconds=seconds)


def upgrade() -> None:
    # Plain ADD COLUMN (no table copy on SQLite: 2 M tickets).
    for name in COLUMNS:
        op.add_column("tickets", sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.execute(BACKFILL)
    op.execute(BACKFILL_PRIOR)
    op.create_index("ix_tickets_fact_registered_at", "tickets", ["fact_registered_at"])
    op.add_column("agent_state_changes", sa.Column("ended_at", sa.DateTime(timezone=True)))
    op.add_column("agent_state_changes", sa.Column("span_seconds", sa.Float()))
    op.execute(state_ends(op.get_bind().dialect.name))


def downgrade() -> None:
    with op.batch_alter_table("agent_state_changes") as batch:
        batch.drop_column("span_seconds")
        batch.drop_column("ended_at")
    op.drop_index("ix_tickets_fact_registered_at", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
