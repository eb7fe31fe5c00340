"""End-to-end fixtures: one real hotline node per session (tests/e2e/bed.py) and speech for
the peers. Missing pieces fail with the install hint — they never skip."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.bed import Node, missing_tools, start_node, stop_node
from tests.e2e.peers.audio import AGENT_SAY, CITIZEN_SAY, speech_wav

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from tests.e2e.peers.rtp_pcap import wav_to_pcap


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    if hints := missing_tools():
        pytest.fail("end-to-end tests need: " + "; ".join(hints))
    n = start_node(tmp_path_factory.mktemp("node"), "e2e", ["1001", "1002"])
    try:
        yield n
    finally:
        stop_node(n)


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("speech")
    citizen = speech_wav(CITIZEN_SAY, d / "citizen.wav", repeat=4)
    agent = speech_wav(AGENT_SAY, d / "agent.wav", repeat=8)
    wav_to_pcap(citizen, d / "citizen.pcap")
    return {"citizen_wav": citizen, "citizen_pcap": d / "citizen.pcap", "agent_wav": agent}
