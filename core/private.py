"""Citizens' data is the service's alone: the data folder and everything in it are private
(folders 0700, files 0600), and the processes that write it do so under umask 077.

Recordings are Asterisk's (inside its root, 0640 in 0750 folders: Asterisk's umask 027).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

UMASK = 0o077  # the app and the hotline command: nothing for group or others
ASTERISK_UMASK = 0o027  # Asterisk: recordings and logs for its own group, not for others


def use_private_umask() -> None:
    os.umask(UMASK)


def make_private(folder: Path) -> None:
    """Create ``folder`` if needed and take group and other access away from it and from
    everything below it (older installs left 0644 files in a 0755 folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in [folder, *folder.rglob("*")]:
        st = path.lstat()
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
            path.chmod(stat.S_IMODE(st.st_mode) & ~0o077)
