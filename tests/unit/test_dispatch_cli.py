"""``hotline install``'s copy of dispatch.example.toml and ``hotline dispatch load [FILE]``:
the copy is made once and never overwrites an edited file; a load upserts, a second load of
the same file changes and logs nothing, a broken or missing file is refused by name."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import CatalogueChange, Department
from casework import parse_catalogue
from core.db import create_engine, session_factory
from hotline.cli import run
from hotline.dispatch import EXAMPLE, ensure_catalogue
from hotline.errors import SetupError
from tests.conftest import EXAMPLE_CATALOGUE, TEST_CALENDAR, TEST_SECRET, TEST_TOKEN, make_settings


def test_install_copies_the_example_once_and_keeps_an_edited_file(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, casework={"calendar_overrides": TEST_CALENDAR})
    assert settings.catalogue_file == tmp_path / "dispatch.toml"
    assert EXAMPLE == EXAMPLE_CATALOGUE
    assert ensure_catalogue(settings) is True
    copied = settings.catalogue_file.read_text("utf-8")
    assert copied == EXAMPLE.read_text("utf-8")
    assert parse_catalogue(copied).departments  # the copy is a valid catalogue
    settings.catalogue_file.write_text(copied + "\n# 本市已修改\n", "utf-8")
    assert ensure_catalogue(settings) is False
    assert settings.catalogue_file.read_text("utf-8").endswith("# 本市已修改\n")


def _config(tmp: Path, catalogue: Path) -> Path:
    path = tmp / "hotline.toml"
    path.write_text(
        f'data_dir = "{tmp}"\n[ami]\nsecret = "{TEST_SECRET}"\n[api]\ntoken = "{TEST_TOKEN}"\n'
        f'[casework]\ncatalogue = "{catalogue}"\ncalendar_overrides = "{TEST_CALENDAR}"\n',
        "utf-8",
    )
    return path


def _counts(url: str) -> tuple[int, int]:
    async def count() -> tuple[int, int]:
        engine = create_engine(url)
        try:
            async with session_factory(engine)() as session:
                changes = await session.scalar(select(func.count()).select_from(CatalogueChange))
                depts = await session.scalar(select(func.count()).select_from(Department))
            return int(changes or 0), int(depts or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count())


def test_dispatch_load_is_idempotent_and_refuses_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, EXAMPLE_CATALOGUE)
    url = make_settings(tmp_path).db_url
    assert run(["--config", str(config), "dispatch", "load"]) == 0
    first = capsys.readouterr().out
    departments = len(parse_catalogue(EXAMPLE_CATALOGUE.read_text("utf-8")).departments)
    assert f"{departments} departments and " in first
    logged, stored = _counts(url)
    assert stored == departments and logged > departments  # departments and entries logged
    assert run(["--config", str(config), "dispatch", "load", str(EXAMPLE_CATALOGUE)]) == 0
    assert "0 departments and 0 catalogue entries changed" in capsys.readouterr().out
    assert _counts(url) == (logged, stored)  # nothing changed, nothing logged
    edited = tmp_path / "edited.toml"
    extra = '\n[[departments]]\ncode = "xfj"\nname = "市信访局"\nkind = "bureau"\n'
    edited.write_text(EXAMPLE_CATALOGUE.read_text("utf-8") + extra, "utf-8")
    assert run(["--config", str(config), "dispatch", "load", str(edited)]) == 0
    assert "1 departments and 0 catalogue entries changed" in capsys.readouterr().out
    assert _counts(url) == (logged + 1, stored + 1)
    broken = tmp_path / "broken.toml"
    broken.write_text(extra + '[[catalogue]]\ncategory = "物价"\nlead = "ghost"\n', "utf-8")
    with pytest.raises(SetupError, match="unknown lead department 'ghost'"):
        run(["--config", str(config), "dispatch", "load", str(broken)])
    with pytest.raises(SetupError, match="no dispatch catalogue at"):
        run(["--config", str(config), "dispatch", "load", str(tmp_path / "missing.toml")])
    assert _counts(url) == (logged + 1, stored + 1)  # a refused file writes nothing
