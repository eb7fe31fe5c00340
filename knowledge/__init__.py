"""Knowledge base rules (知识库): Chinese tokens for the full-text index and for queries, and
the articles' validity window. Pure: no I/O, the clock is passed in."""

from knowledge.articles import ArticleWindowError, check_window, is_current
from knowledge.tokens import (
    MAX_QUERY_CHARS,
    MAX_QUERY_TOKENS,
    MAX_TOKEN_CHARS,
    distinct,
    fts5_match,
    index_tokens,
    query_tokens,
    rounds,
    tsquery,
    warm_up,
)

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TOKENS",
    "MAX_TOKEN_CHARS",
    "ArticleWindowError",
    "check_window",
    "distinct",
    "fts5_match",
    "index_tokens",
    "is_current",
    "query_tokens",
    "rounds",
    "tsquery",
    "warm_up",
]
