"""The built-in analysis plugins: sentiment_snownlp, topics and the default risk scorer.

Hook functions are called directly and through a bare ``pluggy.PluginManager("monitor")`` so that
they are proven to be valid implementations of ``monitor.hookspecs``.
"""
from __future__ import annotations

from types import SimpleNamespace

import pluggy
import pytest

from monitor import hookimpl, hookspecs
from monitor.config import MonitorConfig, load_config
from monitor.documents import Document, Reply
from monitor.risk import RiskAssessment
from plugins import risk, sentiment_snownlp, topics

_counter = iter(range(10**6))


def doc(title: str = "", text: str = "", **fields) -> Document:
    """A document with a fresh id; keyword fields go straight to the dataclass."""
    fields.setdefault("channel", "social")
    fields.setdefault("kind", "post")
    return Document.new("test", fields.pop("channel"), f"https://example.cn/{next(_counter)}",
                        title=title, text=text, **fields)


def fake_monitor(tmp_path, **settings) -> SimpleNamespace:
    """Just enough of a Monitor: ``.config.plugin_config(name)``."""
    return SimpleNamespace(config=MonitorConfig(config_dir=tmp_path, plugin_settings=settings))


def analysed(document: Document, monitor=None) -> Document:
    """Run the two analysis plugins the way the pipeline merges them."""
    for plugin in (sentiment_snownlp, topics):
        document.analysis.update(plugin.analyze_document(document=document, monitor=monitor) or {})
    return document


def signal_names(result: dict) -> set[str]:
    return {s["name"] for s in result["signals"]}


def collapse(**fields) -> Document:
    """A negative, much reposted post about a school wall that fell on students."""
    fields.setdefault("engagement", {"reposts": 1200, "comments": 340, "likes": 5100})
    return doc("某小学围墙倒塌 多名学生受伤",
               "今天下午城南小学围墙突然倒塌，造成3名学生受伤送医，家长聚集在校门口讨说法，"
               "到现在没人管！", **fields)


def ribbon() -> Document:
    """A positive news item about a ribbon cutting."""
    return doc("市人民医院新院区正式启用",
               "上午，市领导出席市人民医院新院区启用剪彩仪式。新院区设施先进、环境优美，"
               "将为群众提供更加便捷优质的医疗服务。", channel="news", kind="article")


# -- sentiment_snownlp ----------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "感谢政府，社区工作人员服务热情周到，问题很快就解决了，非常满意！",
    "新建的公园环境优美，市民纷纷点赞，生活越来越幸福。",
])
def test_clearly_positive_civic_sentences(text):
    result = sentiment_snownlp.analyze_document(document=doc(text=text), monitor=None)
    assert set(result) == {"sentiment"}
    assert result["sentiment"]["label"] == "positive"
    assert result["sentiment"]["model"] == "snownlp"
    assert 0.65 < result["sentiment"]["score"] <= 1.0


@pytest.mark.parametrize("text", [
    "小区垃圾堆积如山，臭气熏天，投诉了多次都没人处理，太失望了。",
    "拖欠工资半年了，老板跑路，我们农民工投诉无门，求求政府帮帮我们",
    "物业乱收费，态度恶劣，简直是欺负老百姓",
])
def test_clearly_negative_civic_sentences(text):
    sentiment = sentiment_snownlp.analyze_document(document=doc(text=text), monitor=None)
    assert sentiment["sentiment"]["label"] == "negative"
    assert 0.0 <= sentiment["sentiment"]["score"] < 0.35


def test_a_message_is_scored_on_the_question_not_the_reply():
    question = "小区垃圾堆积如山，臭气熏天，投诉了多次都没人处理，太失望了。"
    message = doc("垃圾无人清理", question, channel="board", kind="message",
                  reply=Reply("感谢您的来信，我们非常重视，已安排专人清理，环境焕然一新，欢迎监督！"))
    scored = sentiment_snownlp.text_to_score(message)
    assert "感谢您的来信" not in scored and "臭气熏天" in scored
    result = sentiment_snownlp.analyze_document(document=message, monitor=None)
    assert result["sentiment"]["label"] == "negative"


def test_only_title_and_first_max_chars_are_scored(tmp_path):
    long_doc = doc("标题", "好" * 1000)
    assert sentiment_snownlp.text_to_score(long_doc) == "标题\n" + "好" * 200
    monitor = fake_monitor(tmp_path, sentiment_snownlp={"max_chars": 10})
    assert sentiment_snownlp.settings(monitor)["max_chars"] == 10
    assert sentiment_snownlp.text_to_score(long_doc, 10) == "标题\n" + "好" * 10


def test_threshold_settings_change_the_label(tmp_path):
    text = "新建的公园环境优美，市民纷纷点赞，生活越来越幸福。"
    never = fake_monitor(tmp_path, sentiment_snownlp={"negative_below": 0.0, "positive_above": 1.0})
    result = sentiment_snownlp.analyze_document(document=doc(text=text), monitor=never)
    assert result["sentiment"]["label"] == "neutral"
    # inverted thresholds are refused: the defaults apply
    broken = fake_monitor(tmp_path, sentiment_snownlp={"negative_below": 0.9, "positive_above": 0.1,
                                                       "max_chars": "lots"})
    conf = sentiment_snownlp.settings(broken)
    assert (conf["negative_below"], conf["positive_above"], conf["max_chars"]) == (0.35, 0.65, 200)


def test_label_boundaries():
    assert sentiment_snownlp.label_for(0.0) == "negative"
    assert sentiment_snownlp.label_for(0.35) == "neutral"
    assert sentiment_snownlp.label_for(0.65) == "neutral"
    assert sentiment_snownlp.label_for(0.66) == "positive"


@pytest.mark.parametrize("title, text", [("", ""), ("  ", "\n\t"), ("", "。。。！！！……"),
                                         ("", "😀😡🔥"), ("", "hello world 123"), ("", "\x00\x00")])
def test_nothing_chinese_to_score_gives_none(title, text):
    assert sentiment_snownlp.analyze_document(document=doc(title, text), monitor=None) is None


@pytest.mark.parametrize("text", ["\x00学校\x00围墙倒塌\x00", "\ud800学生受伤\udfff",
                                  "abc 中文 ミックス 한국어 😀", "学" * 100_000])
def test_odd_input_still_gets_a_valid_score(text):
    result = sentiment_snownlp.analyze_document(document=doc(text=text), monitor=None)
    assert 0.0 <= result["sentiment"]["score"] <= 1.0
    assert result["sentiment"]["label"] in {"negative", "neutral", "positive"}


# -- topics ---------------------------------------------------------------------------------------

def test_collapse_post_topics_signals_and_keywords():
    result = topics.analyze_document(document=collapse(), monitor=None)
    assert set(result) == {"keywords", "topics", "topic_terms", "signals"}
    assert {"教育", "安全生产"} <= set(result["topics"])
    assert "倒塌" in result["topic_terms"]["安全生产"]
    emergency = next(s for s in result["signals"] if s["name"] == "emergency")
    assert emergency["label"] == "突发事件" and {"倒塌", "受伤"} <= set(emergency["terms"])
    assert {"emergency", "minors", "collective", "urgent"} <= signal_names(result)
    assert 0 < len(result["keywords"]) <= 8 and "围墙" in result["keywords"]


@pytest.mark.parametrize("text, topic, signal", [
    ("网传我市自来水有毒，是否属实？", None, "rumour"),
    ("某村干部贪污低保金，群众多次反映至今未处理", "社会保障/救助", "official_conduct"),
    ("工地老板拖欠工资，几十名农民工集体投诉", "就业/欠薪", "collective"),
    ("暴雨导致道路积水严重，一人溺水身亡", "自然灾害", "emergency"),
    ("征地补偿款被截留，村民拉横幅", "征地拆迁", "collective"),
    ("餐馆食物中毒，十余人送医", "食品药品", "emergency"),
])
def test_topic_and_signal_detection(text, topic, signal):
    result = topics.analyze_document(document=doc(text=text), monitor=None)
    assert signal in signal_names(result)
    if topic:
        assert topic in result["topics"]


def test_negated_casualties_are_not_an_emergency_signal():
    result = topics.analyze_document(document=doc("", "仓库起火，未造成人员伤亡，无人受伤。"),
                                     monitor=None)
    emergency = next(s for s in result["signals"] if s["name"] == "emergency")
    assert emergency["terms"] == ["起火"]
    calm = topics.analyze_document(document=doc("", "经核查，本次事件无人员伤亡。"), monitor=None)
    assert "emergency" not in signal_names(calm)
    # "未成年人死亡" is not a negation
    minors = topics.analyze_document(document=doc("", "一名未成年人死亡"), monitor=None)
    assert "emergency" in signal_names(minors)


def test_config_adds_topics_signals_and_watch_words_from_monitor_toml(make_config):
    directory = make_config()
    with open(directory / "monitor.toml", "a", encoding="utf-8") as fh:
        fh.write('\n[plugins.topics]\ntop_k = 2\nmax_topics = 1\nwatch_words = ["红星化工厂"]\n'
                 'extra_topics = {"文化旅游" = ["景区", "门票"], "教育" = ["研学"]}\n'
                 'extra_signals = {"emergency" = ["爆管"], "price" = ["涨价"]}\n')
    monitor = SimpleNamespace(config=load_config(directory))
    result = topics.analyze_document(
        document=doc("", "景区门票涨价，红星化工厂附近爆管，景区门口排长队"), monitor=monitor)
    assert result["topics"] == ["文化旅游"]
    assert result["topic_terms"]["文化旅游"] == ["景区", "门票"]
    assert len(result["keywords"]) <= 2
    by_name = {s["name"]: s for s in result["signals"]}
    assert by_name["watch"]["terms"] == ["红星化工厂"] and by_name["watch"]["label"] == "关注词"
    assert by_name["emergency"]["terms"] == ["爆管"]
    assert by_name["price"] == {"name": "price", "label": "price", "terms": ["涨价"]}
    study = topics.analyze_document(document=doc("", "暑期研学"), monitor=monitor)
    assert study["topics"] == ["教育"]
    # the defaults are untouched for a monitor without settings
    assert "文化旅游" not in topics.TOPICS and "研学" not in topics.TOPICS["教育"]


def test_bad_topic_settings_fall_back_to_defaults(tmp_path):
    monitor = fake_monitor(tmp_path, topics={"top_k": "many", "max_topics": -1,
                                             "extra_topics": ["not", "a", "table"],
                                             "watch_words": "单个词"})
    conf = topics.settings(monitor)
    assert (conf["top_k"], conf["max_topics"], conf["extra_topics"]) == (8, 5, {})
    assert conf["watch_words"] == ["单个词"]


def test_message_topics_ignore_the_reply():
    message = doc("咨询", "请问社保卡在哪里办理？", channel="board", kind="message",
                  reply=Reply("学校围墙倒塌一事已处理"))
    result = topics.analyze_document(document=message, monitor=None)
    assert "社会保障/救助" in result["topics"]
    assert "教育" not in result["topics"] and "emergency" not in signal_names(result)


@pytest.mark.parametrize("title, text", [("", ""), (" ", "\n")])
def test_empty_document_gives_none(title, text):
    assert topics.analyze_document(document=doc(title, text), monitor=None) is None


@pytest.mark.parametrize("text", ["。。。！！！", "😀😡🔥", "\x00\x00\x00", "\ud800\udfff",
                                  "abc ミックス 한국어 123"])
def test_odd_input_gives_empty_lists(text):
    result = topics.analyze_document(document=doc("", text), monitor=None)
    assert result is None or (result["topics"] == [] and result["signals"] == [])
    if result:
        assert all(isinstance(k, str) and "\x00" not in k for k in result["keywords"])


def test_nul_characters_do_not_hide_words():
    result = topics.analyze_document(document=doc("", "\x00学校\x00围墙倒塌\x00"), monitor=None)
    assert "教育" in result["topics"] and "emergency" in signal_names(result)


def test_very_long_text():
    text = "市民反映情况，部门认真办理。" * 7200 + "学校围墙倒塌"  # ~100k characters
    result = topics.analyze_document(document=doc("长文", text), monitor=None)
    assert len(result["keywords"]) <= 8
    assert "教育" not in result["topics"]  # the tail is past max_chars (50,000)
    early = topics.analyze_document(document=doc("长文", "学校围墙倒塌。" + text), monitor=None)
    assert "教育" in early["topics"]


# -- risk -----------------------------------------------------------------------------------------

def test_collapse_outranks_ribbon_cutting_with_readable_reasons():
    bad = risk.rank_risk(document=analysed(collapse()), monitor=None)
    good = risk.rank_risk(document=analysed(ribbon()), monitor=None)
    assert isinstance(bad, RiskAssessment) and isinstance(good, RiskAssessment)
    assert bad.score > 0.6 > 0.2 > good.score
    assert "互动量高: 转发 1,200、评论 340、点赞 5,100" in bad.reasons
    assert any(r.startswith("突发事件: ") and "倒塌" in r for r in bad.reasons)
    assert "涉及学生/儿童: 学生" in bad.reasons
    assert "涉及安全生产: 倒塌" in bad.reasons
    assert not any(r.startswith(("负面", "突发", "互动")) for r in good.reasons)


def test_negative_sentiment_reason_and_weight():
    document = doc("", "x", analysis={"sentiment": {"score": 0.08, "label": "negative",
                                                    "model": "snownlp"}})
    assessed = risk.rank_risk(document=document, monitor=None)
    assert assessed.reasons == ["负面情绪 (0.08)"]
    assert assessed.score == pytest.approx(0.35 * 0.84, abs=1e-3)
    positive = doc("", "x", analysis={"sentiment": {"score": 0.9, "label": "positive"}})
    assert risk.rank_risk(document=positive, monitor=None).score == 0.0


def test_empty_analysis_scores_from_what_is_available():
    assert risk.rank_risk(document=doc("", "x"), monitor=None) == RiskAssessment(0.0, [])
    pending = doc("", "路灯坏了", channel="board", kind="message")
    assert risk.rank_risk(document=pending, monitor=None) == RiskAssessment(0.15, ["留言未回复"])
    answered = doc("", "路灯坏了", channel="board", kind="message", reply=Reply("已修复"))
    assert risk.rank_risk(document=answered, monitor=None).score == 0.0
    viral = risk.rank_risk(document=doc("", "x", engagement={"reposts": 20000}), monitor=None)
    assert viral.reasons == ["互动量高: 转发 2万"] and 0.3 < viral.score <= 0.35


@pytest.mark.parametrize("value, count", [
    (1200, 1200), ("1.2万", 12_000), ("10w+", 100_000), ("10W", 100_000), ("3k", 3_000),
    ("1,234", 1_234), ("1,234,567", 1_234_567), (" 12 ", 12), ("３万", 30_000),
    ("10亿+", 10 ** 9), ("2.5亿", 250_000_000), ("1e3", 1_000), (12.7, 12), (-5, 0), ("-5", 0),
    ("-0", 0), (0, 0), (None, 0), (True, 0), ([], 0), ({}, 0), ("lots", 0), ("NaN", 0),
    ("0x7fffffffffffffff", 0), (float("nan"), 0), (-float("inf"), 0), (1e-400, 0),
    ("1e-400", 0), (float("inf"), risk.MAX_COUNT), (1e308, risk.MAX_COUNT),
    (10 ** 400, risk.MAX_COUNT), (2 ** 63, risk.MAX_COUNT), ("9" * 5000, risk.MAX_COUNT),
    ("1e308", risk.MAX_COUNT)])
def test_engagement_counts_are_read_as_pages_print_them(value, count):
    assert risk.read_count(value) == count


@pytest.mark.parametrize("engagement, reason", [
    ({"reposts": "1.2万"}, "互动量高: 转发 1.2万"),
    ({"reposts": "10w+", "comments": "3,456"}, "互动量高: 转发 10万、评论 3,456"),
    ({"views": 10 ** 400, "reposts": 10 ** 400}, "互动量高: 转发 1000亿+、浏览 1000亿+"),
    ({"reposts": 1e308}, "互动量高: 转发 1000亿+"),
    ({"likes": 99_999_999, "reposts": 250_000_000}, "互动量高: 转发 2.5亿、点赞 1亿"),
])
def test_huge_or_printed_counts_rank_with_a_short_reason(engagement, reason):
    """10**400 used to overflow (no risk at all), 1e308 gave a 309-digit reason and 「1.2万」
    counted nothing."""
    assessed = risk.rank_risk(document=doc("", "x", engagement=engagement), monitor=None)
    assert assessed.reasons == [reason]
    assert 0.3 < assessed.score <= 0.35
    assert len(assessed.reasons[0]) < 40


def test_own_channel_lowers_nothing():
    ours, theirs = analysed(collapse(own=True)), analysed(collapse())
    assert (risk.rank_risk(document=ours, monitor=None).score
            == risk.rank_risk(document=theirs, monitor=None).score)


def test_risk_weights_from_settings(tmp_path):
    monitor = fake_monitor(tmp_path, risk={"unanswered": 0.5, "signals": {"minors": 0.0},
                                           "topics": {"教育": 0.4}})
    pending = doc("", "x", channel="board", kind="message")
    assert risk.rank_risk(document=pending, monitor=monitor).score == 0.5
    school = doc("", "x", analysis={"topics": ["教育"], "topic_terms": {"教育": ["学生"]},
                                    "signals": [{"name": "minors", "label": "涉及学生/儿童",
                                                 "terms": ["学生"]}]})
    assessed = risk.rank_risk(document=school, monitor=monitor)
    assert assessed.score == 0.4 and assessed.reasons == ["涉及教育: 学生"]
    bad = fake_monitor(tmp_path, risk={"negative": 7, "signals": "loud"})
    conf = risk.settings(bad)
    assert conf["negative"] == 0.35 and conf["signals"] == risk.SIGNAL_WEIGHTS


def test_hostile_analysis_values_do_not_break_the_scorer():
    document = doc("", "x", engagement={"reposts": "lots", "likes": -5, "views": 10**30},
                   analysis={"sentiment": "very bad", "signals": ["emergency", {"x": 1}, None],
                             "topics": None, "topic_terms": "nope"})
    assessed = risk.rank_risk(document=document, monitor=None)
    assert 0.0 <= assessed.score <= 1.0
    nan = doc("", "x", analysis={"sentiment": {"score": float("nan")}, "topics": ["未知话题"]})
    assert risk.rank_risk(document=nan, monitor=None).score == pytest.approx(0.03)


# -- through pluggy --------------------------------------------------------------------------------

def make_pm(*extra) -> pluggy.PluginManager:
    """A bare pluggy manager with the hookspecs; ``extra`` plugins are registered first, so
    only ``trylast`` keeps the built-in scorer behind them."""
    pm = pluggy.PluginManager("monitor")
    pm.add_hookspecs(hookspecs)
    for plugin in extra:
        pm.register(plugin)
    for name, module in (("sentiment_snownlp", sentiment_snownlp), ("topics", topics),
                         ("risk", risk)):
        pm.register(module, name=name)
    return pm


def test_plugins_are_valid_hookimpls_and_receive_monitor(tmp_path):
    pm = make_pm()
    pm.check_pending()
    monitor = fake_monitor(tmp_path, topics={"top_k": 1})
    document = collapse()
    for result in pm.hook.analyze_document(document=document, monitor=monitor):
        document.analysis.update(result or {})
    assert document.analysis["sentiment"]["model"] == "snownlp"
    assert len(document.analysis["keywords"]) == 1  # the monitor's settings were used
    assessed = pm.hook.rank_risk(document=document, monitor=monitor)
    assert isinstance(assessed, RiskAssessment) and assessed.score > 0.6


def test_the_builtin_scorer_is_trylast_so_plugins_override_it():
    class Override:
        @hookimpl
        def rank_risk(self, document):
            return 0.99 if "override" in document.text else None

    pm = make_pm(Override())
    assert pm.hook.rank_risk(document=doc("", "override"), monitor=None) == 0.99
    fallback = pm.hook.rank_risk(document=doc("", "x", channel="board", kind="message"),
                                 monitor=None)
    assert fallback == RiskAssessment(0.15, ["留言未回复"])
