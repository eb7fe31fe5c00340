"""bench/call_load.py's reading of ``core show taskprocessors`` and of one step's samples."""

from __future__ import annotations

from bench.call_load import StepWatch, parse_taskprocessors

# Asterisk 22 prints a 70-column name and seven 10-column numbers (as of 22.10).
ROW = "{:<70} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12}"
SAMPLE = "\n".join(
    [
        "",
        ROW.format(
            "Processor",
            "Processed",
            "In Queue",
            "Max Depth",
            "Low water",
            "High water",
            "Low time(us)",
            "High time(us)",
        ),
        ROW.format("stasis/m:cdr:aggregator-00000003", 12345, 120, 612, 450, 500, 0, 8123),
        ROW.format("pjsip/distributor-00000005", 9876, 3, 40, 450, 500, 0, 92598),
        ROW.format("app_voicemail", 0, 0, 0, 450, 500, 0, 0),
        "2 taskprocessors",  # a count, not a row
        "Processor 1 2",  # too few numbers
        "",
        "3 taskprocessors",
        "",
    ]
)


def test_rows_parse_and_the_header_and_count_do_not() -> None:
    rows = parse_taskprocessors(SAMPLE)
    assert [(r.name, r.in_queue, r.max_depth, r.high_water, r.high_time_us) for r in rows] == [
        ("stasis/m:cdr:aggregator-00000003", 120, 612, 500, 8123),
        ("pjsip/distributor-00000005", 3, 40, 500, 92598),
        ("app_voicemail", 0, 0, 500, 0),
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
