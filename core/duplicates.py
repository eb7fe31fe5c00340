"""Settings of duplicate suggestion and merging (并单, ``[duplicates]``).

Call flow: the app builds one ``casework.duplicates.DuplicateRules`` from this section at
start-up; the duplicates service fetches the candidates of a ticket (same caller, or same
category and district) created within ``window_days``, and the rules score each: the caller,
the place (address and category) and the words of the request. A candidate whose score
reaches ``threshold`` is suggested on the desk and the dispatch page. A merged ticket may be
unmerged by a supervisor for ``unmerge_hours``.

Pure data and validation: nothing here touches the clock, files or the database.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DuplicateSettings(BaseModel):
    """The ``[duplicates]`` section; the defaults were tuned on bench/duplicates.py's set."""

    model_config = ConfigDict(extra="forbid")

    # Candidates are tickets created within this many days before (same caller: "the same
    # citizen within N days"; same category and district: the same matter reported again).
    window_days: int = Field(default=15, ge=1, le=365)
    # A candidate is suggested when its score (the weighted sum below, 0–1) reaches this.
    threshold: float = Field(default=0.45, gt=0, le=1)
    # What each signal adds to the score: the same caller number; the same place (the
    # category equal and the addresses alike, scaled by how alike); the request's words
    # (rapidfuzz over jieba tokens, 0–1).
    caller_weight: float = Field(default=0.3, ge=0, le=1)
    place_weight: float = Field(default=0.3, ge=0, le=1)
    text_weight: float = Field(default=0.5, ge=0, le=1)
    # Two addresses less alike than this (0–1, after normalising) are different places.
    address_similarity: float = Field(default=0.8, gt=0, le=1)
    # At most this many candidates per query (the newest); at most ``shown`` suggestions.
    max_candidates: int = Field(default=200, ge=1, le=5000)
    shown: int = Field(default=5, ge=1, le=50)
    # A supervisor may unmerge a ticket for this many hours after its merge (撤销并单).
    unmerge_hours: float = Field(default=24.0, gt=0, le=24 * 90)

    @model_validator(mode="after")
    def _reachable(self) -> DuplicateSettings:
        best = self.caller_weight + self.place_weight + self.text_weight
        if best < self.threshold:
            raise ValueError(
                f"threshold {self.threshold} is above the highest possible score {best:.2f} "
                "(caller_weight + place_weight + text_weight): nothing would be suggested"
            )
        return self
