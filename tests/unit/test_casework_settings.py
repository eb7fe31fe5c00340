"""The ``[casework]`` settings section: defaults from the seeds, bad values named at start-up."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from casework import CaseClock, DeadlinePolicy, Urgency, WorkingCalendar
from core.settings import Settings, SettingsError, load_settings
from tests.unit.casework_times import sh

GOOD = """
[ami]
secret = "a-generated-secret-0123456789xyz"
[api]
token = "a-generated-token-0123456789xyzw"
"""


def load(tmp: Path, casework: str = "") -> Settings:
    path = tmp / "hotline.toml"
    path.write_text(GOOD + "[casework]\n" + casework)
    return load_settings(path)


def test_defaults(tmp_path: Path) -> None:
    s = load(tmp_path)
    cfg = s.casework
    assert [(span.start, span.end) for span in cfg.office_hours] == [
        (time(8, 30), time(12, 0)),
        (time(13, 30), time(17, 30)),
    ]
    assert (cfg.grab_window_hours, cfg.grab_clock) == (3.0, "working")
    assert (cfg.reminder_fraction, cfg.dispute_window_days) == (0.8, 1)
    assert cfg.confirm_by_phone is False
    assert cfg.sweep_seconds == 60.0
    assert cfg.calendar_overrides is None
    assert s.catalogue_file == s.data_dir / "dispatch.toml"


def test_a_configured_section_drives_the_clock(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        """
confirm_by_phone = true
catalogue = "/etc/hotline/dispatch.toml"
office_hours = [{start = "09:00", end = "12:00"}, {start = "14:00", end = "18:00"}]
[casework.normal]
sign_for_hours = 4
reply_days = 5
[[casework.rules]]
categories = ["供水", "供电"]
reply_days = 1
sign_for_hours = 1
""",
    )
    assert s.casework.confirm_by_phone
    assert s.catalogue_file == Path("/etc/hotline/dispatch.toml")
    clock = CaseClock(
        WorkingCalendar.from_settings(s.casework), DeadlinePolicy.from_settings(s.casework)
    )
    assert clock.reply_deadline(sh(2025, 9, 30, 10, 0), "供水").due == sh(2025, 10, 9, 18, 0)
    # 5 working days from Sep 30: Oct 9, 10, 11 (调休), 13, 14.
    assert clock.reply_deadline(sh(2025, 9, 30, 10, 0), "噪音").due == sh(2025, 10, 14, 18, 0)
    # The urgent default is untouched.
    assert clock.policy.rule_for("噪音", Urgency.URGENT).reply_days == 0


@pytest.mark.parametrize(
    ("casework", "message"),
    [
        ("reminder_fraction = 1.2", r"casework\.reminder_fraction"),
        ("grab_window_hours = 0", r"casework\.grab_window_hours"),
        ('grab_clock = "sundial"', r"casework\.grab_clock"),
        ("dispute_window_days = -1", r"casework\.dispute_window_days"),
        ("sweep_seconds = 0", r"casework\.sweep_seconds"),
        ("sweep_seconds = 86400", r"casework\.sweep_seconds"),
        ("bogus = 1", r"casework\.bogus: Extra inputs are not permitted"),
        (
            'office_hours = [{start = "12:00", end = "08:30"}]',
            "office hours 12:00–08:30 must end after they start",
        ),
        (
            'office_hours = [{start = "08:30", end = "12:00"}, {start = "11:00", end = "17:00"}]',
            "office hours 08:30–12:00 and 11:00–17:00 overlap",
        ),
        ("[casework.normal]\nsign_for_hours = 2\nreply_days = -3", r"casework\.normal\.reply_days"),
        (
            '[[casework.rules]]\ncategories = ["供水"]\nsign_for_hours = 1\nreply_days = 1\n'
            '[[casework.rules]]\ncategories = ["供水"]\nsign_for_hours = 2\nreply_days = 2',
            "category '供水' has more than one normal deadline rule",
        ),
        (
            '[[casework.rules]]\ncategories = [" "]\nsign_for_hours = 1\nreply_days = 1',
            "categories must not contain empty names",
        ),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, casework: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load(tmp_path, casework)


def test_the_readme_shows_the_real_defaults() -> None:
    import tomllib

    from core.casework import CaseworkSettings

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme[readme.index("[casework]\noffice_hours") :]
    shown = tomllib.loads(block[: block.index("```")])["casework"]
    paths = {key: shown[key] for key in ("calendar_overrides", "catalogue")}
    assert CaseworkSettings(**shown) == CaseworkSettings(**paths)


def test_the_sweep_runs_every_sweep_seconds(tmp_path: Path) -> None:
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.migrate import upgrade
    from tests.conftest import EXAMPLE_CATALOGUE, TEST_CALENDAR, make_settings

    cfg = {"catalogue": EXAMPLE_CATALOGUE, "calendar_overrides": TEST_CALENDAR}
    settings = make_settings(tmp_path, casework={**cfg, "sweep_seconds": 30})
    upgrade(settings.db_url)
    with TestClient(create_app(settings)) as client:
        job = client.app.state.runtime.scheduler.get_job("caseloop.sweep")  # type: ignore[attr-defined]
        assert job.trigger.interval == timedelta(seconds=30)
