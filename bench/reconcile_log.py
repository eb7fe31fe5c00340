"""How start-up reconciling scales with the queue log's size (no Asterisk, no database).

Writes a synthetic queue log of ``--days`` days at ``--calls-per-day`` (the lines our dialplan
and app_queue write per call: START, ENTERQUEUE, CONNECT, COMPLETECALLER, END; one call in ten
abandoned), then measures: the first run without a watermark (bisect to an hour before the
newest known call), a run with the watermark at the end (a restart with nothing new), and a
full scan of the file (what a run without the bisect would cost), beside reading the raw bytes
(the baseline).

    .venv/bin/python -m bench.reconcile_log --days 30 --calls-per-day 8000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cti.queue_log import CallFold, offset_at, read_lines

T0 = 1_780_000_000


def write_log(path: Path, days: int, per_day: int) -> int:
    step = 86400 / per_day
    n = 0
    with path.open("w") as f:
        for i in range(days * per_day):
            t = int(T0 + i * step)
            uid = f"{t}.{i}"
            caller = f"138{i % 100_000_000:08d}"
            f.write(
                f"{t}|{uid}|NONE|NONE|HOTLINE_START|12345|{uid}|PJSIP/carrier-{i:08x}||"
                f"{t}.120|{caller}\n{t + 8}|{uid}|main||ENTERQUEUE||{caller}|1\n"
            )
            if i % 10 == 0:
                f.write(f"{t + 20}|{uid}|main|NONE|ABANDON|1|1|12\n")
                f.write(f"{t + 20}|{uid}|NONE|NONE|HOTLINE_END|16||greeting|SUCCESS\n")
                n += 4
            else:
                f.write(f"{t + 10}|{uid}|main|1001|CONNECT|2|{uid}9|2\n")
                f.write(f"{t + 200}|{uid}|main|1001|COMPLETECALLER|2|190|1\n")
                f.write(f"{t + 200}|{uid}|NONE|NONE|HOTLINE_END|16||greeting|SUCCESS\n")
                n += 5
    return n


def scan(path: Path, offset: int) -> tuple[int, int]:
    fold = CallFold()
    lines_read = calls = 0
    while True:
        lines, nxt = read_lines(path, offset)
        for line in lines:
            fold.feed(line)
        lines_read += len(lines)
        calls += len(fold.take_closed())
        if nxt == offset:
            return lines_read, calls
        offset = nxt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--calls-per-day", type=int, default=8000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "queue_log"
        t = time.perf_counter()
        lines = write_log(path, args.days, args.calls_per_day)
        size = path.stat().st_size
        print(
            f"queue log: {args.days} days x {args.calls_per_day} calls = {lines:,} lines, "
            f"{size / 1e6:.0f} MB (written in {time.perf_counter() - t:.1f} s)"
        )
        t = time.perf_counter()
        with path.open("rb") as f:
            while f.read(1 << 20):
                pass
        raw = time.perf_counter() - t
        print(f"baseline: read the raw bytes            {raw * 1000:9.1f} ms")

        newest = datetime.fromtimestamp(T0, UTC) + timedelta(days=args.days)
        t = time.perf_counter()
        off = offset_at(path, newest - timedelta(hours=1))
        bisect = time.perf_counter() - t
        t = time.perf_counter()
        tail_lines, tail_calls = scan(path, off)
        tail = time.perf_counter() - t
        print(
            f"first run, no watermark: bisect         {bisect * 1000:9.2f} ms, then the last hour "
            f"({tail_lines:,} lines, {tail_calls} calls) parsed in {tail * 1000:.1f} ms"
        )
        t = time.perf_counter()
        rest, _ = scan(path, size)
        print(
            f"restart, watermark at the end          {(time.perf_counter() - t) * 1000:9.2f} ms "
            f"({rest} lines)"
        )
        t = time.perf_counter()
        all_lines, all_calls = scan(path, 0)
        full = time.perf_counter() - t
        print(
            f"full scan (no bisect, no watermark)    {full * 1000:9.1f} ms: {all_calls:,} calls, "
            f"{all_lines / full:,.0f} lines/s, {full / raw:.0f}x the raw read; a year would "
            f"take ~{full * 365 / args.days:.0f} s"
        )


if __name__ == "__main__":
    main()
