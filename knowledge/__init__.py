"""Knowledge base rules (知识库): Chinese tokens for the full-text index and for queries, and
the articles' validity window. Pure: no I/O, the clock is passed in."""

from knowledge.articles import ArticleWindowError, check_window, is_current
from knowledge.tokens import (
    MAX_QUERY_CHARS,
    MAX_QUERY_TOKENS,
    fts5_match,
    index_tokens,
    query_tokens,
    tsquery,
    warm_up,
)

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TOKENS",
    "ArticleWindowError",
    "check_window",
    "fts5_match",
    "index_tokens",
    "is_current",
    "query_tokens",
    "tsquery",
    "warm_up",
]
