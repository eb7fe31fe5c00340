"""Run the app process: ``python -m app --config FILE`` (``hotline up`` does this)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import uvicorn

from app.logs import log_config
from app.main import create_app
from app.runtime import Runtime
from core.private import use_private_umask
from core.settings import Settings, SettingsError, default_config_path, load_settings


def check(settings: Settings) -> None:
    """What the app checks when it starts (the runtime's construction), without serving."""
    runtime = Runtime(settings)
    asyncio.run(runtime.engine.dispose())
    print("hotline app: settings ok")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument(
        "--check", action="store_true", help="run the start-up checks only (hotline reload)"
    )
    args = parser.parse_args()
    use_private_umask()  # the database, its -wal/-shm, transcripts: the service's alone
    try:
        settings = load_settings(args.config or default_config_path())
        if args.check:
            check(settings)
            return
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
