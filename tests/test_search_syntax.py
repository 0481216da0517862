"""Search syntax: exclusions (-word, NOT word), operators in any case or width, letter numbers.

The parser is checked on its FTS5 output, then the same queries run against a real embedded
store and through the real ``monitor search`` command.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import click
import pytest
from click.testing import CliRunner

from monitor.app import Monitor
from monitor.cli import cli
from monitor.cli_search import query_args, search
from monitor.documents import Document, Reply
from monitor.store import SearchQuery, StoreConfig
from monitor.store._fts import parse, query_problem, search_words, to_match
from monitor.store.embedded import EmbeddedStore

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)


# -- the parser ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["学校 -围墙", "学校 NOT 围墙", "学校 not 围墙", "学校 Not 围墙",
                                  "学校 ＮＯＴ 围墙", "学校 ｎｏｔ 围墙", "学校 －围墙",
                                  "-围墙 学校", "NOT 围墙 学校"])
def test_exclusion_becomes_fts5_not(text):
    assert to_match(text) == '("学校"*) NOT "围墙"*'


def test_excluded_phrase_and_several_exclusions():
    assert to_match('学校 -"围墙 倒塌"') == (
        '("学校"*) NOT ({title text reply} : "围墙"* + "倒塌"*)')
    assert to_match("学校 -“围墙倒塌”") == to_match('学校 -"围墙 倒塌"')
    assert to_match("学校 -围墙 NOT 倒塌") == '(("学校"*) NOT "围墙"*) NOT "倒塌"*'


@pytest.mark.parametrize("text", ["噪音 OR 停水", "噪音 or 停水", "噪音 Or 停水", "噪音 ＯＲ 停水",
                                  "噪音 ｏｒ 停水"])
def test_or_in_any_case_and_width(text):
    assert to_match(text) == '("噪音"* OR "停水"*)'


@pytest.mark.parametrize("text", ["学校 and 围墙", "学校 AND 围墙", "学校 ＡＮＤ 围墙", "学校 围墙"])
def test_and_in_any_case_and_width_is_a_space(text):
    assert to_match(text) == '"学校"* AND "围墙"*'


def test_or_next_to_an_exclusion_is_ignored():
    assert to_match("学校 OR -围墙") == '("学校"*) NOT "围墙"*'
    assert to_match("-围墙 OR 学校") == '("学校"*) NOT "围墙"*'


def test_a_minus_inside_a_word_or_standing_alone_is_not_an_exclusion():
    assert to_match("地铁 - 投诉") == '"地铁"* AND "投诉"*'
    assert to_match("COVID-19") == '({title text reply} : "COVID" + "19")'
    assert [t.negated for g in parse("a-b -c") for t in g] == [False, True]


def test_operators_with_nothing_to_act_on_are_dropped():
    assert to_match("学校 NOT") == '"学校"*'
    assert to_match("学校 -") == '"学校"*'
    assert to_match("OR 学校 OR") == '"学校"*'
    assert to_match("AND") is None and to_match("NOT") is None and to_match("or") is None


@pytest.mark.parametrize("text", ["-围墙", "NOT 围墙", "not 围墙", '-"围墙 倒塌"', "-围墙 -倒塌"])
def test_a_query_of_only_exclusions_matches_nothing_and_says_what_to_do(text):
    assert to_match(text) is None
    problem = query_problem(text)
    assert problem and "\n" not in problem and "学校 -围墙" in problem


def test_queries_with_a_word_to_look_for_have_no_problem():
    for text in ("学校 -围墙", "围墙", "", "-", "NOT", '"', "-(", "地铁 - 投诉"):
        assert query_problem(text) is None, text


def test_excluded_words_are_not_highlighted():
    assert search_words("学校 -围墙 NOT 倒塌") == ["学校"]


@pytest.mark.parametrize("number, phrase", [
    ("XZXX-2026-0042", '({title text reply} : "XZXX" + "2026" + "0042")'),
    ("2026-0042", '({title text reply} : "2026" + "0042")'),
    ("xzxx-2026-0042", '({title text reply} : "xzxx" + "2026" + "0042")'),
    ("XZ202612010118", '"XZ202612010118"'),
])
def test_letter_numbers_become_a_phrase_of_their_tokens(number, phrase):
    assert to_match(number) == phrase


# -- the same queries against a real store -----------------------------------------------

def _doc(name: str, title: str, text: str, **fields) -> Document:
    return Document.new("mb", "mailbox", f"http://127.0.0.1/{name}", kind="message",
                        title=title, text=text, published_at=NOW, crawled_at=NOW, **fields)


@pytest.fixture
def docs():
    return {
        "wall": _doc("wall", "学校围墙倒塌", "东湖镇中心小学围墙倒塌，有学生受伤"),
        "gate": _doc("gate", "学校大门拥堵", "放学时学校门口车辆拥堵"),
        "canteen": _doc("canteen", "学校食堂卫生", "食堂卫生条件差，学生反映强烈",
                        reply=Reply("已责成学校整改围墙外的垃圾点", "教育局", NOW)),
        "letter": _doc("letter", "路灯不亮", "来信编号 XZXX-2026-0042，青石乡路灯坏了",
                       platform_id="XZXX-2026-0042"),
        "other": _doc("other", "路灯维修", "编号 XZXX-2025-0042 的路灯已修好"),
    }


@pytest.fixture
def store(tmp_path, docs):
    st = EmbeddedStore(StoreConfig(path=tmp_path / "docs.db"))
    st.put_many(docs.values())
    yield st
    st.close()


def _found(store, docs, text: str) -> set[str]:
    by_id = {d.id: n for n, d in docs.items()}
    return {by_id[h.document.id] for h in store.search(SearchQuery(text=text, limit=50)).hits}


def test_exclusions_leave_out_documents_with_the_word(store, docs):
    assert _found(store, docs, "学校") == {"wall", "gate", "canteen"}
    assert _found(store, docs, "学校 -围墙") == {"gate"}  # the canteen's reply mentions 围墙
    assert _found(store, docs, "学校 not 围墙") == {"gate"}
    assert _found(store, docs, "学校 ＮＯＴ 围墙") == {"gate"}
    assert _found(store, docs, '学校 -"围墙倒塌"') == {"gate", "canteen"}
    assert _found(store, docs, "学校 -围墙 -拥堵") == set()
    assert store.count(SearchQuery(text="学校 -围墙")) == 1


def test_lower_case_and_full_width_or_are_operators(store, docs):
    assert _found(store, docs, "拥堵 or 倒塌") == {"wall", "gate"}
    assert _found(store, docs, "拥堵 ＯＲ 倒塌") == {"wall", "gate"}


def test_only_exclusions_find_nothing_in_the_store(store, docs):
    assert _found(store, docs, "-围墙") == set()


def test_letter_number_is_found_by_its_characters(store, docs):
    assert _found(store, docs, "XZXX-2026-0042") == {"letter"}
    assert _found(store, docs, "2026-0042") == {"letter"}
    assert _found(store, docs, "xzxx-2026-0042") == {"letter"}
    assert _found(store, docs, "0042") == {"letter", "other"}


# -- the command line --------------------------------------------------------------------

def _params():
    return search.get_params(click.Context(search, help_option_names=["-h", "--help"]))


def test_query_args_keep_options_and_move_words_behind_a_double_dash():
    assert query_args(_params(), ["学校", "-围墙", "--since", "7d", "--json"]) == [
        "--since", "7d", "--json", "--", "学校", "-围墙"]
    assert query_args(_params(), ["-hotel", "--limit=5", "-h"]) == [
        "--limit=5", "-h", "--", "-hotel"]
    assert query_args(_params(), ["--sicne", "6h"]) == ["--sicne", "--", "6h"]  # click objects
    assert query_args(_params(), ["a", "--", "--json"]) == ["--", "a", "--json"]


@pytest.fixture
def run(config_dir, docs):
    with Monitor.open(config_dir, entry_points=False) as m:
        m.store.put_many(docs.values())
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, ["-c", str(config_dir), *args])


def test_cli_search_accepts_exclusions_without_a_double_dash(run, docs):
    result = run("search", "学校", "-围墙", "--json")
    assert result.exit_code == 0, result.output
    assert [h["id"] for h in json.loads(result.output)["hits"]] == [docs["gate"].id]
    again = run("search", "学校", "-围墙", "--since", "3000-01-01", "--json")
    assert json.loads(again.output)["total"] == 0  # a real option after the query still works
    quoted = run("search", "学校 -围墙", "--json")  # one shell word
    assert json.loads(quoted.output)["total"] == 1
    dashes = run("search", "--json", "--", "学校", "-围墙")
    assert json.loads(dashes.output)["total"] == 1


def test_cli_refuses_a_query_of_only_exclusions_in_one_line(run):
    result = run("search", "-围墙")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "学校 -围墙" in lines[0]


def test_cli_option_typo_is_still_an_error(run):
    result = run("search", "学校", "--sicne", "6h")
    assert result.exit_code == 2 and "--since" in result.output


def test_cli_help_is_still_help(run):
    result = run("search", "-h")
    assert result.exit_code == 0
    assert "search [OPTIONS] [QUERY]..." in result.output and "--offset" in result.output
