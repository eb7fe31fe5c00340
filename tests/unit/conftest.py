"""Unit-test fixtures: the Korean Vosk model is shared by every transcription test; ``client``
is the whole app on a migrated SQLite database (HTTP edge tests)."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.migrate import upgrade
from core.settings import Settings
from tests.unit.korean_speech import model

__all__ = ["client", "model"]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    upgrade(settings.db_url)
    with TestClient(create_app(settings)) as c:
        yield c
