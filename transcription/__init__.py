"""Transcription: call audio into timed text and emergency alerts, after the call and live.

Call flow: Asterisk records each direction of a call (MixMonitor ``r()``/``t()``) → after
hang-up the app's job queue calls ``transcribe_call_async`` in a bounded executor → the two
legs are decoded separately by a ``Recognizer`` from the process's one ``VoskModel`` and merged
into a ``Transcript`` (市民/话务员 lines) that the app stores on the ticket → ``find_alerts`` /
``spot_alerts`` turn emergency phrases into ``Alert``s with the centre to transfer to. Models
are installed and found by ``install_model`` / ``resolve_model``; ``cli`` is the command line.
Live: ``AudioSocketServer`` takes the caller's audio that Asterisk streams while the call is
bridged, and a ``LiveDecoder`` per stream turns it into partial/final text and ``Alert``s.
It imports no other project package; the app wires it to the bus, the database and the desk.
"""

from collections.abc import Sequence as _Sequence

from transcription.audiosocket import AudioSocketError, AudioSocketServer, FrameParser
from transcription.engine import (
    AudioFormatError,
    AudioStream,
    ModelError,
    Recognizer,
    Segment,
    SpeechModel,
    StreamingModel,
    StreamUpdate,
    TranscriptionError,
    Word,
)
from transcription.keywords import (
    CATEGORY_LABELS_ZH,
    Alert,
    KeywordRule,
    default_rules,
    find_alerts,
    spot_alerts,
)
from transcription.live import LiveDecoder, LiveOutput, LiveText
from transcription.models import install_model, list_models, pypi_model_path, resolve_model
from transcription.post_call import (
    SPEAKER_LABELS_ZH,
    Speaker,
    Transcript,
    TranscriptLine,
    make_executor,
    read_leg,
    transcribe_call,
    transcribe_call_async,
)
from transcription.vosk_engine import VoskModel, VoskRecognizer, shared_model


def cli(argv: _Sequence[str] | None = None, *, prog: str = "python -m transcription") -> int:
    """The ``model install|list`` and ``transcribe`` commands; returns the exit code."""
    # Imported here: importing __main__ with the package would make `python -m transcription`
    # warn that the module was already imported.
    from transcription.__main__ import cli as run

    return run(argv, prog=prog)


__all__ = [
    "CATEGORY_LABELS_ZH",
    "SPEAKER_LABELS_ZH",
    "Alert",
    "AudioFormatError",
    "AudioSocketError",
    "AudioSocketServer",
    "AudioStream",
    "FrameParser",
    "KeywordRule",
    "LiveDecoder",
    "LiveOutput",
    "LiveText",
    "ModelError",
    "Recognizer",
    "Segment",
    "Speaker",
    "SpeechModel",
    "StreamUpdate",
    "StreamingModel",
    "Transcript",
    "TranscriptLine",
    "TranscriptionError",
    "VoskModel",
    "VoskRecognizer",
    "Word",
    "cli",
    "default_rules",
    "find_alerts",
    "install_model",
    "list_models",
    "make_executor",
    "pypi_model_path",
    "read_leg",
    "resolve_model",
    "shared_model",
    "spot_alerts",
    "transcribe_call",
    "transcribe_call_async",
]
