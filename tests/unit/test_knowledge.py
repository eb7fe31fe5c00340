"""The knowledge base's pure rules: Chinese tokens for index and query (jieba's search cut),
queries with odd characters reduced to plain words, and the validity window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from knowledge import (
    MAX_QUERY_TOKENS,
    MAX_TOKEN_CHARS,
    ArticleWindowError,
    check_window,
    fts5_match,
    index_tokens,
    is_current,
    query_tokens,
    rounds,
    tsquery,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_index_tokens_are_search_cut_words_joined_by_spaces() -> None:
    tokens = index_tokens("公积金提取需要哪些材料？", None, "住房公积金")
    words = tokens.split(" ")
    # The search cut adds the shorter words inside a long one, so 公积 alone also matches.
    assert {"公积金", "公积", "提取", "材料"} <= set(words)
    assert "？" not in tokens and "  " not in tokens
    assert words.count("公积金") == 2  # repeats are kept: the ranking counts them


def test_query_tokens_are_distinct_plain_words() -> None:
    assert query_tokens("夜间施工噪音，噪音扰民！") == ["夜间", "施工", "噪音", "扰民"]
    assert query_tokens("Wi-Fi 密码") == ["wi", "fi", "密码"]  # lower-cased, split at '-'
    # The ways of asking say nothing of the matter: not asked of the index.
    assert query_tokens("我想问一下公积金怎么提取吗？") == ["公积", "积金", "公积金", "提取"]


@pytest.mark.parametrize(
    "odd",
    [
        '"',
        "'; DROP TABLE kb_articles; --",
        "路灯 AND NOT OR NEAR(",
        "* ^ : ( ) { } - +",
        "\x00路灯\x00",
        "\\' || '",
        "",
        "   ",
        "😀🙂",
    ],
)
def test_odd_queries_become_plain_tokens_or_nothing(odd: str) -> None:
    for token in query_tokens(odd):
        assert token.isalnum(), token
    match, ts = fts5_match(query_tokens(odd)), tsquery(query_tokens(odd))
    assert '""' not in match and "''" not in ts


def test_operators_are_tokens_not_syntax() -> None:
    # FTS5 would read a bare AND/OR/NOT/NEAR as an operator; quoted, each is a word.
    assert fts5_match(query_tokens("路灯 NOT 亮")) == '"路灯" OR "not" OR "亮"'
    assert tsquery(["路灯", "not"]) == "'路灯' | 'not'"
    assert fts5_match(["a", "b"], all_of=True) == '"a" AND "b"'
    assert tsquery(["a", "b"], all_of=True) == "'a' & 'b'"


def test_a_long_query_keeps_its_newest_words_and_a_bounded_count() -> None:
    long = "无关内容" * 1000 + "公积金提取"
    tokens = query_tokens(long)
    assert "公积金" in tokens and len(tokens) <= MAX_QUERY_TOKENS
    many = " ".join(f"w{i}" for i in range(200))
    assert len(query_tokens(many)) == MAX_QUERY_TOKENS
    assert query_tokens("x" * 100) == ["x" * MAX_TOKEN_CHARS]  # a pasted blob is one short word


def test_rounds_ask_the_rarest_known_words_together_then_fewer_then_any() -> None:
    docs = {"公积金": 3, "提取": 40, "办理": 900, "身份证": 120, "社区": 500, "市": 2000}
    tokens = ["我", "想", "办理", "公积金", "提取", "要", "身份证", "社区", "市"]
    plan = rounds(tokens, docs)
    assert plan[0] == (["公积金", "提取", "身份证", "社区", "办理"], True)  # the 5 rarest
    assert [len(words) for words, all_of in plan if all_of] == [5, 4, 3, 2, 1]
    assert plan[-2] == (["公积金"], True)
    assert plan[-1] == (["公积金", "提取", "身份证", "社区", "办理", "市"], False)
    assert rounds(["我", "想"], docs) == []  # nothing the index holds
    assert rounds(["提取"], docs) == [(["提取"], True)]


def test_validity_window() -> None:
    day = timedelta(days=1)
    assert is_current(T0, None, T0)
    assert is_current(T0, T0 + day, T0 + day - timedelta(seconds=1))
    assert not is_current(T0, T0 + day, T0 + day)  # valid_to is the first moment it is not
    assert not is_current(T0 + day, None, T0)
    check_window(T0, None)
    check_window(T0, T0 + day)
    with pytest.raises(ArticleWindowError):
        check_window(T0, T0)
