"""Run the app process: ``python -m app --config FILE`` (``hotline up`` does this)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from app.logs import log_config
from app.main import create_app
from core.private import use_private_umask
from core.settings import SettingsError, default_config_path, load_settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app")
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()
    use_private_umask()  # the database, its -wal/-shm, transcripts: the service's alone
    try:
        settings = load_settings(args.config or default_config_path())
    except SettingsError as exc:
        print(f"hotline app: {exc}", file=sys.stderr)
        sys.exit(2)
    # One worker: the AMI client, FastAGI server and scheduler must exist exactly once.
    uvicorn.run(
        create_app(settings),
        host=settings.api.host,
        port=settings.api.port,
        workers=1,
        log_config=log_config(settings.log_level),
        access_log=False,
    )


if __name__ == "__main__":
    main()
