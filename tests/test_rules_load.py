"""Rule files: every key checked, problems name the file and key, one bad file never stops
the others, unknown alert channels reported."""
from __future__ import annotations

from pathlib import Path

import pytest

from alerts.rules import EVENT_UNAVAILABLE, NEGATIVE_BELOW, load_rules, parse_rule
from monitor.errors import ConfigError
from rules_helpers import rule

SHIPPED = Path(__file__).resolve().parent.parent / "config"


def write(config_dir: Path, name: str, text: str) -> Path:
    folder = config_dir / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_examples_cover_every_type_and_load_clean():
    from alerts.rules import RULE_TYPES

    rules, problems = load_rules(SHIPPED)
    assert problems == []
    assert sorted({r.type for r in rules.values()}) == sorted(RULE_TYPES)


def test_common_keys_and_defaults():
    r = rule('type = "frequency"\nwindow_minutes = 30\nmin_count = 2\nname = "x"\n'
             'group_by = "place"\nchannels = ["ops"]\n[filters]\nnegative = true\n'
             'places = ["城关镇"]\n', name="burst")
    assert (r.id, r.name, r.enabled, r.severity, r.group_by, r.channels) == (
        "burst", "x", True, "warning", ["place"], ["ops"])
    assert r.params == {"window_minutes": 30, "late_allowance_minutes": 0, "min_count": 2}
    assert r.filters.max_sentiment == NEGATIVE_BELOW and r.filters.places == ["城关镇"]
    assert r.filters.include_own is False  # own channels excluded unless asked
    assert r.realert_minutes == 60 and r.top == 5


@pytest.mark.parametrize("text, key, words", [
    ('type = "frequncy"', "type", "did you mean 'frequency'"),
    ('type = "match"\nquery = "a"\nseverity = "critcal"', "severity", "did you mean 'critical'"),
    ('type = "match"\nquery = "a"\nqeury = "b"', "qeury", "did you mean 'query'"),
    ('type = "match"\nquery = "a"\ngroup_by = ["plaec"]', "group_by", "did you mean 'place'"),
    ('type = "match"\nquery = "a"\n[filters]\nchanels = ["news"]', "filters.chanels",
     "did you mean 'channels'"),
    ('type = "match"\nquery = "a"\n[filters]\nchannels = ["newz"]', "filters.channels",
     "did you mean 'news'"),
    ('type = "match"\nquery = "-围墙"', "query", "only excludes"),
    ('type = "match"', "query", "needs a query"),
    ('type = "frequency"\nmin_count = 2', "window_minutes", "missing"),
    ('type = "frequency"\nwindow_minutes = 0\nmin_count = 2', "window_minutes", "at least 1"),
    ('type = "frequency"\nwindow_minutes = "1h"\nmin_count = 2', "window_minutes", "integer"),
    ('type = "spike"\nwindow_minutes = 5\nratio = 1', "ratio", "more than 1"),
    ('type = "spike"\nwindow_minutes = 5\ndirection = "upp"', "direction", "'up'"),
    ('type = "flatline"\nwindow_minutes = 5\nbelow = 0', "below", "never fire"),
    ('type = "threshold"', "risk", "missing"),
    ('type = "unanswered"\nworkdays = 3\ntimezone = "Asia/Shanghia"', "timezone",
     "unknown time zone"),
    ('type = "new_term"\nfield = "palce"', "field", "did you mean 'place'"),
    ('type = "cross_channel"\nwindow_minutes = 5', "query", "needs a query"),
    ('type = "match"\nquery = "a"\nmin_count = 3', "min_count", "unknown key"),
    ('type = "match"\nquery = "a"\nterms = ["", "x"]', "terms", "non-empty"),
])
def test_each_problem_names_the_key(text, key, words):
    with pytest.raises(ConfigError) as info:
        rule(text)
    assert info.value.key == key
    assert words in str(info.value) and "r.toml" in str(info.value)


def test_bad_id_from_file_name():
    with pytest.raises(ConfigError, match="rename the file"):
        parse_rule({"type": "match", "query": "a"}, Path("Bad Name.toml"))


def test_one_bad_file_never_stops_the_others(tmp_path):
    write(tmp_path, "good", 'type = "match"\nquery = "学校"\n')
    write(tmp_path, "typo", 'type = "match"\nquery = "学校"\nseverty = "info"\n')
    write(tmp_path, "broken", 'type = "match\n')
    write(tmp_path, "also-good", 'type = "threshold"\nrisk = 0.5\n')
    rules, problems = load_rules(tmp_path)
    assert sorted(rules) == ["also-good", "good"]
    assert sorted(Path(p.path).name for p in problems) == ["broken.toml", "typo.toml"]
    assert any("did you mean 'severity'" in str(p) for p in problems)


def test_unknown_alert_channel_is_a_problem_when_channels_file_exists(tmp_path):
    write(tmp_path, "r1", 'type = "match"\nquery = "学校"\nchannels = ["dutyy", "duty"]\n')
    rules, problems = load_rules(tmp_path)
    assert problems == [] and "r1" in rules  # no channels.toml: nothing to check against
    (tmp_path / "channels.toml").write_text('[duty]\ntype = "log"\n', encoding="utf-8")
    rules, problems = load_rules(tmp_path)
    assert "r1" in rules  # the rule still loads: its good channel works
    assert len(problems) == 1 and problems[0].key == "channels"
    assert "unknown channel 'dutyy'" in str(problems[0]) and "did you mean 'duty'" in str(
        problems[0])


def test_group_by_event_is_accepted_with_a_warning():
    r = rule('type = "frequency"\nwindow_minutes = 5\nmin_count = 2\ngroup_by = ["event"]')
    assert r.group_by == ["event"] and r.warnings == [EVENT_UNAVAILABLE]


def test_duplicate_id(tmp_path):
    write(tmp_path, "a", 'type = "match"\nquery = "x"\n')
    write(tmp_path, "b", 'id = "a"\ntype = "match"\nquery = "x"\n')
    rules, problems = load_rules(tmp_path)
    assert list(rules) == ["a"] and "also used by" in str(problems[0])


def test_every_problem_of_one_file_is_listed(tmp_path):
    write(tmp_path, "many", 'type = "frequency"\nmin_count = "3"\nseverty = "info"\n'
                            'group_by = ["palce"]\n[filters]\nkinds = ["artcle"]\n')
    rules, problems = load_rules(tmp_path)
    assert rules == {}
    assert sorted(p.key for p in problems) == [
        "filters.kinds", "group_by", "min_count", "severty", "window_minutes"]
    assert all(Path(p.path).name == "many.toml" for p in problems)


def test_unknown_type_still_checks_the_other_keys(tmp_path):
    write(tmp_path, "t", 'type = "burst"\nseverity = "loud"\nwindow_minutes = 5\n')
    _, problems = load_rules(tmp_path)
    assert sorted(p.key for p in problems) == ["severity", "type"]
