"""bench/call_load.py's reading of ``core show taskprocessors`` and of one step's samples."""

from __future__ import annotations

from bench.call_load import StepWatch, parse_taskprocessors

# Asterisk 22 main/taskprocessor.c prints its table with "%-70s %10s %10s %10s %10s %10s".
ROW = "{:<70} {:>10} {:>10} {:>10} {:>10} {:>10}"
SAMPLE = "\n".join(
    [
        "",
        ROW.format("Processor", "Processed", "In Queue", "Max Depth", "Low water", "High water"),
        ROW.format("stasis/m:cdr:aggregator-00000003", 12345, 120, 612, 450, 500),
        ROW.format("pjsip/distributor-00000005", 9876, 3, 40, 450, 500),
        ROW.format("app_voicemail", 0, 0, 0, 450, 500),
        "",
        "3 taskprocessors",
        "",
    ]
)


def test_rows_parse_and_the_header_and_count_do_not() -> None:
    rows = parse_taskprocessors(SAMPLE)
    assert [(r.name, r.in_queue, r.max_depth, r.high_water) for r in rows] == [
        ("stasis/m:cdr:aggregator-00000003", 120, 612, 500),
        ("pjsip/distributor-00000005", 3, 40, 500),
        ("app_voicemail", 0, 0, 500),
    ]


def test_a_step_names_the_queue_that_grew_and_passed_its_high_water() -> None:
    rows = parse_taskprocessors(SAMPLE)
    # Before the step the CDR queue had never been deeper than 30; pjsip had been to 40.
    watch = StepWatch({"stasis/m:cdr:aggregator-00000003": 30, "pjsip/distributor-00000005": 40})
    for tp in rows:
        watch.last[tp.name] = tp
        watch.peak_in_queue[tp.name] = tp.in_queue
    assert watch.deepest() == ("stasis/m:cdr:aggregator-00000003", 612)
    assert watch.over_high_water() == ["stasis/m:cdr:aggregator-00000003"]
    # A max depth reached before the step is not this step's: only what it held counts.
    calm = StepWatch({"stasis/m:cdr:aggregator-00000003": 612})
    calm.last = {rows[0].name: rows[0]}
    calm.peak_in_queue = {rows[0].name: 7}
    assert calm.deepest() == ("stasis/m:cdr:aggregator-00000003", 7)
    assert calm.over_high_water() == []
