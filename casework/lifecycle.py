"""The ticket (工单) lifecycle: its states and the only moves between them.

Pure rules, no I/O. The app's case service asks :func:`check_move` before it writes a
transition and its audit row; nothing else changes a ticket's state.

    draft 受理中 → registered 已受理 → answered 直接答复 → closed 办结
                                  └→ dispatched 已派单 → accepted 已签收 → replied 已答复
                                        ↑  ↓ disputed 异议中        → callback 回访中 → closed
                                        └──────── reopened 重办 ◀─────────────┘
    merged 已并单: a duplicate folded into a master ticket (terminal).
"""

from __future__ import annotations

import enum


class TicketState(enum.StrEnum):
    """A ticket's state; the Chinese label is what the pages show."""

    DRAFT = "draft"  # 受理中
    REGISTERED = "registered"  # 已受理
    ANSWERED = "answered"  # 直接答复
    DISPATCHED = "dispatched"  # 已派单
    ACCEPTED = "accepted"  # 已签收
    DISPUTED = "disputed"  # 异议中
    REPLIED = "replied"  # 已答复
    CALLBACK = "callback"  # 回访中
    REOPENED = "reopened"  # 重办
    CLOSED = "closed"  # 办结
    MERGED = "merged"  # 已并单


S = TicketState

LABELS_ZH: dict[TicketState, str] = {
    S.DRAFT: "受理中",
    S.REGISTERED: "已受理",
    S.ANSWERED: "直接答复",
    S.DISPATCHED: "已派单",
    S.ACCEPTED: "已签收",
    S.DISPUTED: "异议中",
    S.REPLIED: "已答复",
    S.CALLBACK: "回访中",
    S.REOPENED: "重办",
    S.CLOSED: "办结",
    S.MERGED: "已并单",
}

# The only moves a ticket can make.
ALLOWED: dict[TicketState, frozenset[TicketState]] = {
    S.DRAFT: frozenset({S.REGISTERED, S.MERGED}),
    S.REGISTERED: frozenset({S.ANSWERED, S.DISPATCHED, S.MERGED}),
    S.ANSWERED: frozenset({S.CLOSED, S.CALLBACK}),
    S.DISPATCHED: frozenset({S.ACCEPTED, S.DISPUTED}),
    S.ACCEPTED: frozenset({S.REPLIED, S.DISPUTED}),
    # 派单异议: approved and confirmed by a second reviewer → re-dispatched, or back to the
    # dispatch queue (registered); rejected → the department keeps it (accepted).
    S.DISPUTED: frozenset({S.DISPATCHED, S.REGISTERED, S.ACCEPTED}),
    S.REPLIED: frozenset({S.CALLBACK, S.CLOSED}),
    S.CALLBACK: frozenset({S.CLOSED, S.REOPENED}),
    # 重办: back to the same department (accepted), or dispatched afresh (a direct answer).
    S.REOPENED: frozenset({S.ACCEPTED, S.DISPATCHED}),
    S.CLOSED: frozenset(),
    S.MERGED: frozenset(),
}

# Moved by the hotline itself (the callback dialler, call intake), never by an API request.
SYSTEM_ONLY = frozenset({S.DRAFT, S.CALLBACK})


class InvalidTransition(ValueError):
    """A ticket was asked to move where the lifecycle does not allow."""


def check_move(ticket_id: int | None, current: TicketState, to: TicketState) -> None:
    """Raise :class:`InvalidTransition` unless the lifecycle allows ``current`` → ``to``."""
    if to not in ALLOWED[current]:
        raise InvalidTransition(f"ticket {ticket_id}: {current} → {to} is not allowed")
