"""Turns a WAV file into a pcap of G.711 A-law RTP packets that SIPp's play_pcap_audio streams.

Lets a SIPp caller speak real (synthesised Mandarin) audio of any length instead of the
7-second sample SIPp ships, so recordings and transcripts have something to hear.
"""

from __future__ import annotations

import audioop
import struct
import wave
from pathlib import Path

SAMPLES_PER_PACKET = 160  # 20 ms at 8 kHz
PAYLOAD_PCMA = 8


def _checksum_free_udp(payload: bytes, sport: int, dport: int) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def _ipv4(udp: bytes, src: bytes, dst: bytes) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
    total = sum(struct.unpack("!10H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    header = header[:10] + struct.pack("!H", ~total & 0xFFFF) + header[12:]
    return header + udp


def wav_to_pcap(wav_path: Path, pcap_path: Path) -> float:
    """Write the pcap; return the audio duration in seconds. The WAV must be 8 kHz mono s16."""
    with wave.open(str(wav_path), "rb") as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (8000, 1, 2):
            raise ValueError(f"{wav_path}: need 8 kHz mono 16-bit, convert with sox first")
        pcm = w.readframes(w.getnframes())
    alaw = audioop.lin2alaw(pcm, 2)
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    eth = b"\x00" * 12 + b"\x08\x00"
    src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    packets = 0
    for seq, start in enumerate(range(0, len(alaw), SAMPLES_PER_PACKET)):
        chunk = alaw[start : start + SAMPLES_PER_PACKET].ljust(SAMPLES_PER_PACKET, b"\xd5")
        rtp = struct.pack("!BBHII", 0x80, PAYLOAD_PCMA, seq & 0xFFFF, start, 0x12345678) + chunk
        frame = eth + _ipv4(_checksum_free_udp(rtp, 6000, 6002), src, dst)
        usec = seq * 20_000
        out += struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame))
        out += frame
        packets += 1
    pcap_path.write_bytes(bytes(out))
    return packets * SAMPLES_PER_PACKET / 8000
