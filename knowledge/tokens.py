"""Chinese text → search tokens, the one place both databases' indexes and queries get them.

Articles are stored with their tokens (jieba's ``cut_for_search``: words and the shorter words
inside them, e.g. 公积金 → 公积, 积金, 公积金) joined by spaces; SQLite's FTS5 and PostgreSQL's
``to_tsvector('simple', …)`` then only split on the spaces. A query goes through the same cut,
so whatever a citizen or agent types (quotes, FTS operators, NUL, a whole transcript) becomes
a list of plain word tokens: nothing of the query's syntax reaches the database.

Which tokens are asked, and how (:func:`rounds`): a citizen's sentence holds many common words
(办理, 怎么, 社区); OR-ing them all makes the database rank thousands of articles (slow, and the
best match drowns). So the query's words known to the index are ordered rarest first (by how
many articles hold them) and asked together (AND), the most common one dropped each round
until enough articles are found; only then, as a last resort, any of the rarest few (OR).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import jieba

# A query is a few sentences at most (the desk sends the description or the last transcript
# lines); beyond that the cut only costs time. OR-ing more tokens adds little to the ranking.
MAX_QUERY_CHARS = 500
MAX_QUERY_TOKENS = 32
MAX_TOKEN_CHARS = 32  # a longer "word" is noise (a pasted code, a run of letters)
WIDEST_AND = 5  # the first round asks for the 5 rarest words together
LAST_RESORT_OR = 8  # the last round: any of the 8 rarest


# Words a question is made of but that say nothing of its matter: never asked of the index
# (they stay in it). Function words, pronouns and the ways of asking.
_STOP_WORDS = (
    "的 了 吗 呢 啊 吧 呀 嘛 哦 哈 么 着 过 得 地 之 是 在 有 和 与 及 或 就 都 也 还 又 很 太 "
    "被 把 给 让 对 从 到 向 这 那 这个 那个 这些 那些 我 你 您 他 她 它 我们 你们 他们 咱们 "
    "要 想 能 会 可以 请 请问 问 问一下 一下 下 麻烦 你好 您好 谢谢 怎么 怎么办 怎样 怎么样 "
    "什么 哪里 哪儿 哪些 哪个 如何 为什么 多少 多久 一个 个 些 啥 呃 嗯"
)
STOP_WORDS = frozenset(_STOP_WORDS.split())


def warm_up() -> None:
    """Load jieba's dictionary now (a second or more) instead of on the first search."""
    jieba.initialize()


def _words(text: str) -> Iterable[str]:
    for raw in jieba.cut_for_search(text):
        # Only letters and digits (CJK included): punctuation, quotes, operators and control
        # characters are dropped, so a token is always a plain word to both indexes.
        word = "".join(ch for ch in raw.lower() if ch.isalnum())[:MAX_TOKEN_CHARS]
        if word:
            yield word


def distinct(tokens: str) -> set[str]:
    """The distinct words of stored tokens (what the per-word article counts count)."""
    return set(tokens.split())


def index_tokens(*texts: str | None) -> str:
    """The space-joined tokens stored for an article's text (question, or answer and
    category); repeated words are kept, the ranking counts them."""
    return " ".join(word for text in texts if text for word in _words(text))


def query_tokens(query: str) -> list[str]:
    """A query's distinct tokens but :data:`STOP_WORDS`, in order, at most
    :data:`MAX_QUERY_TOKENS`; the query is cut to its last :data:`MAX_QUERY_CHARS` characters
    first (the newest words of a long transcript matter most)."""
    seen: dict[str, None] = {}
    for word in _words(query[-MAX_QUERY_CHARS:]):
        if word in STOP_WORDS:
            continue
        seen.setdefault(word)
        if len(seen) == MAX_QUERY_TOKENS:
            break
    return list(seen)


def rounds(tokens: Sequence[str], docs: Mapping[str, int]) -> list[tuple[list[str], bool]]:
    """The searches to try in turn, each ``(tokens, all_of)``: the query's tokens that
    articles hold (``docs``: how many articles hold each), rarest first, all of the widest
    few, then one fewer each round; last, any of the rarest few. Empty when no token is known."""
    # Rarest first; between equally rare words the longer (公积金 before 公积) says more.
    known = sorted((t for t in tokens if docs.get(t, 0) > 0), key=lambda t: (docs[t], -len(t), t))
    plan = [(known[:k], True) for k in range(min(len(known), WIDEST_AND), 0, -1)]
    if len(known) > 1:
        plan.append((known[:LAST_RESORT_OR], False))
    return plan


def fts5_match(tokens: Iterable[str], all_of: bool = False) -> str:
    """An FTS5 MATCH expression: each token a quoted string (tokens hold no quotes), AND-ed
    or OR-ed."""
    return (" AND " if all_of else " OR ").join(f'"{token}"' for token in tokens)


def tsquery(tokens: Iterable[str], all_of: bool = False) -> str:
    """A ``to_tsquery('simple', …)`` expression: each token quoted, AND-ed or OR-ed."""
    return (" & " if all_of else " | ").join(f"'{token}'" for token in tokens)
