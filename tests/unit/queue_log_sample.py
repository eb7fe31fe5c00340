"""Queue-log lines as Asterisk 22 and our dialplan write them, for the parser and service tests."""

from __future__ import annotations

T0 = 1_795_000_000  # 2026-11-18 (UTC)


def start(t: int, uid: str, caller: str, dialled: str = "12345", source: str = "") -> str:
    return (
        f"{t}|{uid}|NONE|NONE|HOTLINE_START|{dialled}|{uid}|PJSIP/carrier-{uid[-4:]}"
        f"|{source}|{t}.250|{caller}"
    )


def end(t: int, uid: str, route: str = "", prompt: str = "greeting", cause: int = 16) -> str:
    return f"{t}|{uid}|NONE|NONE|HOTLINE_END|{cause}|{route}|{prompt}|SUCCESS"


def answered(
    t: int, uid: str, caller: str, agent: str = "1001", dialled: str = "12345"
) -> list[str]:
    """Greeting 8 s, 3 s in the queue, 20 s with the agent, then the caller hangs up."""
    return [
        start(t, uid, caller, dialled),
        f"{t + 8}|{uid}|main||ENTERQUEUE||{caller}|1",
        f"{t + 10}|{uid}|main|{agent}|RINGNOANSWER|1000",
        f"{t + 11}|{uid}|main|{agent}|CONNECT|3|{uid}9|1",
        f"{t + 31}|{uid}|main|{agent}|COMPLETECALLER|3|20|1",
        end(t + 31, uid),
    ]


def abandoned(t: int, uid: str, caller: str) -> list[str]:
    """Greeting 8 s, then 5 s in the queue and the caller gives up."""
    return [
        start(t, uid, caller),
        f"{t + 8}|{uid}|main||ENTERQUEUE||{caller}|1",
        f"{t + 13}|{uid}|main|NONE|ABANDON|1|1|5",
        end(t + 13, uid),
    ]


def in_greeting(t: int, uid: str, caller: str) -> list[str]:
    """Hung up 4 s into the greeting: never reached a queue."""
    return [start(t, uid, caller), end(t + 4, uid, prompt="")]


def in_progress(t: int, uid: str, caller: str, agent: str = "1002") -> list[str]:
    """Talking to the agent when the log ends."""
    return [
        start(t, uid, caller),
        f"{t + 8}|{uid}|main||ENTERQUEUE||{caller}|1",
        f"{t + 9}|{uid}|main|{agent}|CONNECT|1|{uid}9|1",
    ]


def text(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)
