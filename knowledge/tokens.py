"""Chinese text → search tokens, the one place both databases' indexes and queries get them.

Articles are stored with their tokens (jieba's ``cut_for_search``: words and the shorter words
inside them, e.g. 公积金 → 公积, 积金, 公积金) joined by spaces; SQLite's FTS5 and PostgreSQL's
``to_tsvector('simple', …)`` then only split on the spaces. A query goes through the same cut,
so whatever a citizen or agent types (quotes, FTS operators, NUL, a whole transcript) becomes
a list of plain word tokens, OR-ed: nothing of the query's syntax reaches the database.
"""

from __future__ import annotations

from collections.abc import Iterable

import jieba

# A query is a few sentences at most (the desk sends the description or the last transcript
# lines); beyond that the cut only costs time. OR-ing more tokens adds little to the ranking.
MAX_QUERY_CHARS = 500
MAX_QUERY_TOKENS = 32


def warm_up() -> None:
    """Load jieba's dictionary now (a second or more) instead of on the first search."""
    jieba.initialize()


def _words(text: str) -> Iterable[str]:
    for raw in jieba.cut_for_search(text):
        # Only letters and digits (CJK included): punctuation, quotes, operators and control
        # characters are dropped, so a token is always a plain word to both indexes.
        word = "".join(ch for ch in raw.lower() if ch.isalnum())
        if word:
            yield word


def index_tokens(*texts: str | None) -> str:
    """The space-joined tokens stored for an article's text (question, or answer and
    category); repeated words are kept, the ranking counts them."""
    return " ".join(word for text in texts if text for word in _words(text))


def query_tokens(query: str) -> list[str]:
    """A query's distinct tokens, in order, at most :data:`MAX_QUERY_TOKENS`; the query is
    cut to its last :data:`MAX_QUERY_CHARS` characters first (the newest words of a long
    transcript matter most)."""
    seen: dict[str, None] = {}
    for word in _words(query[-MAX_QUERY_CHARS:]):
        seen.setdefault(word)
        if len(seen) == MAX_QUERY_TOKENS:
            break
    return list(seen)


def fts5_match(tokens: Iterable[str]) -> str:
    """An FTS5 MATCH expression: each token a quoted string, OR-ed (tokens hold no quotes)."""
    return " OR ".join(f'"{token}"' for token in tokens)


def tsquery(tokens: Iterable[str]) -> str:
    """A ``to_tsquery('simple', …)`` expression: each token quoted, OR-ed."""
    return " | ".join(f"'{token}'" for token in tokens)
