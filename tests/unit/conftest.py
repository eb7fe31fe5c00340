"""Unit-test fixtures: the Korean Vosk model is shared by every transcription test."""

from tests.unit.korean_speech import model

__all__ = ["model"]
