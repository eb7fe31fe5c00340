"""Speech for the test peers: Mandarin sentences rendered with espeak-ng, 8 kHz mono WAV."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

CITIZEN_SAY = "你好，我要反映一下，我们小区的暖气不热，已经好几天了，麻烦你们尽快派人来看看。"
AGENT_SAY = "您好，这里是一二三四五热线，请问有什么可以帮您？"


def speech_wav(text: str, out: Path, repeat: int = 1) -> Path:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is missing: apt-get install -y espeak-ng sox")
    raw = out.with_suffix(".raw.wav")
    subprocess.run(
        ["espeak-ng", "-v", "cmn-latn-pinyin", "-w", str(raw), text],
        check=True,
        capture_output=True,
    )
    cmd = ["sox", "-v", "0.8", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out)]
    if repeat > 1:
        cmd += ["repeat", str(repeat - 1)]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def rms(path: Path) -> float:
    """Root-mean-square level of a 16-bit WAV (0 = silence, 32767 = full scale)."""
    import audioop

    with wave.open(str(path), "rb") as w:
        frames = w.readframes(w.getnframes())
        return float(audioop.rms(frames, w.getsampwidth())) if frames else 0.0


def duration(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()
