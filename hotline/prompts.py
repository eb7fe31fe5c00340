"""Mandarin prompts: rendered with espeak-ng at install, replaceable by recorded WAVs.

Asterisk plays them by absolute path (``${PROMPTS}/greeting``), so an operator replaces a
robotic prompt by dropping a recording with the same name into ``<data_dir>/prompts/recorded/``
(any WAV; it is converted to 8 kHz mono 16-bit) and running ``hotline install`` again.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from hotline.errors import SetupError

# Name → text. Digits are written as Hanzi so the line number is read digit by digit.
PROMPTS: dict[str, str] = {
    "greeting": "您好，欢迎致电一二三四五政务服务便民热线，正在为您转接人工服务，请稍候。",
    "hold": "您的来电正在排队，工作人员将尽快为您服务，请不要挂机。",
    # 满意度回访 (ivr/survey.py): the ticket number is read between intro and intro-end.
    "survey-intro": "您好，这里是一二三四五热线，就您反映的编号为",
    "survey-intro-end": "的问题进行回访。",
    "survey-service": "请对话务员的服务进行评价，满意请按一，基本满意请按二，不满意请按三。",
    "survey-outcome": "请对问题的办理结果进行评价，满意请按一，基本满意请按二，不满意请按三。",
    "survey-invalid": "您的输入有误，请重新选择。",
    "survey-comment": "请在提示音后说出您的意见，说完请按井号键。",
    "survey-thanks": "感谢您的评价，再见。",
    **{f"digit-{d}": h for d, h in zip("0123456789", "零一二三四五六七八九", strict=True)},
}
# espeak-ng's plain cmn/zh voices read many Hanzi as pinyin with spoken tone digits.
VOICE = "cmn-latn-pinyin"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SetupError(f"{name} is missing: apt-get install -y espeak-ng sox")
    return path


def _to_telephony(src: Path, dst: Path) -> None:
    # -v 0.8 leaves headroom: espeak-ng output clips when resampled at full scale.
    subprocess.run(
        [_tool("sox"), "-v", "0.8", str(src), "-r", "8000", "-c", "1", "-b", "16", str(dst)],
        check=True,
        capture_output=True,
    )


def render_prompts(
    out_dir: Path, recorded_dirs: list[Path], work_dir: Path, extra: dict[str, str]
) -> dict[str, str]:
    """Write ``<name>.wav`` for every prompt (``PROMPTS`` and the number plan's ``extra``)
    into ``out_dir``; return name → origin. Unchanged texts are not synthesised again."""
    out_dir.mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    origin: dict[str, str] = {}
    for name, text in {**PROMPTS, **extra}.items():
        target = out_dir / f"{name}.wav"
        recorded = next(
            (d / f"{name}.wav" for d in recorded_dirs if (d / f"{name}.wav").is_file()), None
        )
        if recorded is not None:
            _to_telephony(recorded, target)
            origin[name] = str(recorded)
            continue
        cached = work_dir / f"{name}.tts.wav"
        stamp = work_dir / f"{name}.tts.txt"
        if not (cached.is_file() and stamp.is_file() and stamp.read_text() == text):
            subprocess.run(
                [_tool("espeak-ng"), "-v", VOICE, "-w", str(cached), text],
                check=True,
                capture_output=True,
            )
            stamp.write_text(text)
        _to_telephony(cached, target)
        origin[name] = "espeak-ng"
    return origin
