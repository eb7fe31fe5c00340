"""scripts/setup: what a node gets, and what only the tests add (run against stubs: the
package queries and pip are recorded, nothing is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Checked against `debootstrap --variant=minbase bookworm`: it has chroot, mount, runuser
# (coreutils, mount, util-linux) but not python3, openssl, ip or ss.
NODE = {"python3", "python3-venv", "ca-certificates", "debootstrap", "espeak-ng", "sox", "openssl"}
TEST_ONLY = {
    "sip-tester",
    "baresip-core",
    "postgresql",
    "chromium",
    "chromium-driver",
    "iproute2",
    "redis-server",
    "kamailio",
}


def _stub(path: Path, log: Path, body: str = "") -> None:
    path.write_text(f'#!/bin/sh\necho "$(basename "$0") $*" >> {log}\n{body}')
    path.chmod(0o755)


def run_setup(tmp_path: Path, *args: str) -> tuple[set[str], list[str]]:
    """Run a copy of scripts/setup; return the Debian packages it asked about and the pip
    command lines it ran."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts/setup", tmp_path / "scripts/setup")
    (tmp_path / "bin").mkdir()
    (tmp_path / ".venv/bin").mkdir(parents=True)
    log = tmp_path / "calls.log"
    _stub(tmp_path / "bin/dpkg-query", log, "echo 'install ok installed'\n")
    _stub(tmp_path / ".venv/bin/python", log)
    _stub(tmp_path / ".venv/bin/pip", log)
    subprocess.run(
        [str(tmp_path / "scripts/setup"), *args],
        env={"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"},
        check=True,
        capture_output=True,
    )
    calls = log.read_text().splitlines()
    packages = {c.split()[-1] for c in calls if c.startswith("dpkg-query")}
    return packages, [c for c in calls if c.startswith("pip")]


def test_a_node_gets_no_test_packages(tmp_path: Path) -> None:
    packages, pip = run_setup(tmp_path)
    assert not packages & TEST_ONLY
    assert packages >= NODE
    assert pip == ["pip install -q --disable-pip-version-check -e ."]


def test_the_tests_add_their_peers_browser_and_dev_tools(tmp_path: Path) -> None:
    packages, pip = run_setup(tmp_path, "--test")
    assert packages >= NODE | TEST_ONLY
    assert pip == ["pip install -q --disable-pip-version-check -e .[dev]"]
