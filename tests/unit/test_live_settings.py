"""Settings of live transcription and keyword lists: validated at start-up, naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.runtime import _keyword_rules
from tests.conftest import make_settings
from transcription import KeywordRule, default_rules


def test_live_is_off_by_default_and_keywords_default_to_the_mandarin_lists(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert settings.transcription.live.queues == []
    assert _keyword_rules(settings) == default_rules()


def test_configured_keyword_lists_replace_the_defaults(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        transcription={
            "keywords": [
                {"category": "fire", "centre": "119", "phrases": ["화재", "불이야"]},
                {"category": "watch", "phrases": ["투신"]},
            ],
            "live": {"queues": ["main", "gjj"], "streams": 3, "fillers": ["여보세요"]},
        },
    )
    assert _keyword_rules(settings) == (
        KeywordRule("fire", "119", ("화재", "불이야")),
        KeywordRule("watch", None, ("투신",)),
    )
    assert settings.transcription.live.streams == 3


@pytest.mark.parametrize(
    ("transcription", "field"),
    [
        ({"live": {"host": "0.0.0.0"}}, "transcription.live.host"),
        ({"live": {"streams": 0}}, "streams"),
        ({"keywords": [{"category": "fire", "centre": "fire", "phrases": ["x"]}]}, "centre"),
        ({"keywords": [{"category": "fire", "centre": "119", "phrases": []}]}, "phrases"),
        ({"keywords": [{"category": "Fire!", "phrases": ["x"]}]}, "category"),
    ],
)
def test_bad_live_settings_name_the_field(
    tmp_path: Path, transcription: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError, match=field):
        make_settings(tmp_path, transcription=transcription)
