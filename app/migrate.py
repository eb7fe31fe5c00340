"""Schema migrations (Alembic), run by ``hotline db migrate`` and by ``hotline up``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from core.db import sync_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's ini interpolation would choke on '%' in passwords.
    cfg.set_main_option(
        "sqlalchemy.url",
        sync_url(url).render_as_string(hide_password=False).replace("%", "%%"),
    )
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
