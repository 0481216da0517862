"""Keywords, topics and risk signals: analysis["keywords", "topics", "topic_terms", "signals"].

- ``keywords``: the top words by TF-IDF (``jieba.analyse.extract_tags``).
- ``topics``: names from a built-in taxonomy of policy areas (the seeds' 重点领域: 教育, 医疗卫生,
  安全生产, 征地拆迁 …), strongest first; ``topic_terms`` maps each to the words that matched.
- ``signals``: what an analyst must not miss — emergencies and casualties, rumours and untrue
  information, collective action, 急难愁盼 pleas, children or students involved, officials'
  conduct, viral spread, vulnerable people, and the office's own watch words.  Each signal is
  ``{"name", "label", "terms"}``.  "无人员伤亡" / "未造成人员伤亡" do not count as casualties.

Matching is a plain substring scan of the title and text (for messages, the citizen's question,
not the reply), so it needs no segmenter and never misses a word that jieba would split.

Settings, ``[plugins.topics]`` in monitor.toml (all optional)::

    top_k = 8                   # number of keywords
    max_topics = 5              # topics kept, strongest first
    max_chars = 50000           # characters scanned (and given to the keyword extractor)
    watch_words = ["某化工厂"]   # becomes the "watch" signal (关注词)
    extra_topics = {"文旅" = ["景区", "门票"]}      # new topics, or words added to a built-in one
    extra_signals = {"emergency" = ["爆管"]}        # words added to a signal, or a new signal
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Any, Callable

from monitor import hookimpl

log = logging.getLogger(__name__)

NAME = "topics"
DEFAULTS: dict[str, Any] = {"top_k": 8, "max_topics": 5, "max_chars": 50000}
NEGATABLE_SIGNALS = frozenset({"emergency"})

# "无人员伤亡", "未造成人员伤亡", "没有人受伤", "无一人死亡" … but not "未成年人死亡"
_NEGATED = re.compile(r"(?:无|未|没有|没|暂无|未见|未有)(?:造成|发生|出现|导致)?(?:任何)?(?:一)?"
                      r"(?:人员|人)?$")
_CLAUSE_END = re.compile(r"[，。；！？,.;!?\n]")
_JUNK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_WORDISH = re.compile(r"[\u3400-\u9fffA-Za-z]")

_extract_tags: Callable[..., list[str]] | None = None
_lock = threading.Lock()
_tables: dict[str, tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]] = {}
_warned: set[str] = set()

# -- the built-in taxonomy (words separated by spaces; substring matches) -------------------------
# Topics follow the seeds' key areas (重点领域, REQUIREMENTS §2.6).  Short or ambiguous words are
# avoided on purpose ("急" would hit 急诊 and 应急管理, "集体" hits 集体经济).

_TOPIC_WORDS: dict[str, str] = {
    "教育": "学校 学生 教师 老师 校园 幼儿园 小学 中学 高中 高校 大学 招生 入学 学位 义务教育 "
            "学前教育 职业教育 中考 高考 校外培训 培训机构 学区 教育局 校车",
    "医疗卫生": "医院 医生 医护 护士 患者 病人 看病 就医 诊所 卫生院 医保 医疗 医德医风 急诊 手术 "
                "药费 挂号 门诊 大病保险 卫健",
    "公共卫生/疫情": "疫情 传染病 新冠 病毒 感染 确诊 防控 核酸 疫苗 隔离 发热 流感 公共卫生 "
                     "聚集性",
    "食品药品": "食品安全 食品 药品 假药 过期 变质 餐饮 外卖 添加剂 农药残留 食物中毒 保健品 "
                "药店 奶粉 地沟油",
    "安全生产": "安全生产 事故 爆炸 火灾 起火 坍塌 倒塌 垮塌 矿难 煤矿 危化品 化工厂 泄漏 工地 "
                "施工安全 消防 隐患 燃气 触电 坠落 特种设备 电梯",
    "自然灾害": "自然灾害 地震 洪水 洪涝 暴雨 台风 干旱 山体滑坡 滑坡 泥石流 冰雹 雪灾 寒潮 "
                "森林火灾 内涝 受灾 灾情 救灾 防汛 抗旱",
    "生态环境": "环境污染 污染 排污 偷排 废气 废水 污水 臭味 异味 噪音 噪声 扬尘 雾霾 空气质量 "
                "饮用水 水质 垃圾焚烧 环评 生态环境 河长 黑臭",
    "交通出行": "交通 道路 公路 堵车 拥堵 红绿灯 公交 地铁 出租车 网约车 停车 违停 车位 高速 "
                "桥梁 路面 坑洼 修路 车祸 火车站 高铁 机场 航道 收费站 快递 邮政 物流 运输",
    "住房/房地产": "房地产 楼盘 开发商 房价 购房 商品房 烂尾 交房 房产证 不动产 物业 小区 业主 "
                   "保障房 公租房 廉租房 棚改 租房 房租 危房 房屋",
    "征地拆迁": "征地 拆迁 征收 强拆 补偿款 安置房 补偿标准 宅基地 失地农民 回迁",
    "社会保障/救助": "社保 养老保险 养老金 退休金 低保 社会救助 救助 五保 特困 残疾人 养老院 "
                     "敬老院 福利 救济 困难群众 一老一小 退役军人 优抚",
    "就业/欠薪": "就业 失业 招聘 欠薪 拖欠工资 讨薪 工资 农民工 劳动合同 劳动仲裁 裁员 辞退 "
                 "工伤 务工 灵活就业 工程款 内退 劳动关系 职业技能 工作时间 加班",
    "财政金融/税收": "财政 预算 税收 纳税 税务 减税降费 营改增 发票 金融 银行 贷款 信贷 理财 "
                     "非法集资 集资 暴雷 爆雷 债务 汇率 股市",
    "营商环境/企业诉求": "营商环境 企业 商户 个体户 中小企业 民营企业 招商 营业执照 许可证 纾困 "
                         "助企 融资难 拖欠账款 政府采购 招标 投标 乱罚款 乱收费",
    "城市管理": "城管 摊贩 占道 违建 违章建筑 私搭乱建 绿化 环卫 市容 井盖 下水道 排水 停水 "
                "停电 供水 供电 供暖 暖气 垃圾 路灯 公厕 公园 脏乱 环境卫生",
    "政务服务": "政务服务 办事 窗口 一网通办 审批 办证 开证明 户口 户籍 落户 身份证 12345 "
                "热线 政务公开 信息公开",
    "产品质量/消费": "产品质量 质量问题 消费者 消费维权 假冒 伪劣 退款 退货 虚假宣传 12315 "
                     "价格欺诈 预付卡 虚假广告 违法广告 医药广告 垄断 市场监管",
    "农业农村": "农业 农村 农民 种植 养殖 粮食 粮价 耕地 化肥 乡村振兴 扶贫 脱贫 村委 村干部 "
                "合作社 土地流转 灌溉",
    "文化旅游/体育": "旅游 景区 游客 导游 文物 文化遗产 非遗 博物馆 图书馆 文化馆 体育馆 运动会 "
                     "体育场 健身 演出",
    "社会治安": "治安 盗窃 抢劫 诈骗 打架 斗殴 黑恶 涉黑 涉恶 赌博 传销 吸毒 派出所 报警 家暴",
}

_SIGNAL_WORDS: dict[str, tuple[str, str]] = {
    "emergency": ("突发事件", "伤亡 死亡 遇难 身亡 丧生 死者 罹难 失联 失踪 受伤 伤者 重伤 爆炸 "
                  "爆燃 倒塌 坍塌 垮塌 塌方 火灾 起火 着火 失火 大火 中毒 泄漏 被困 溺水 "
                  "溺亡 踩踏 决堤 溃坝 地震 山洪 泥石流"),
    "rumour": ("谣言/不实信息", "谣言 造谣 传谣 辟谣 网传 传言 据传 疯传 不实 虚假信息 假消息 "
               "假新闻 流言 误读 曲解 是真是假 是否属实"),
    "collective": ("群体性事件苗头", "群众聚集 人员聚集 聚集在 聚集维权 聚众 围堵 堵路 拉横幅 静坐 "
                   "上访 维权 群体性 讨说法 讨薪 示威 游行 冲突 打砸 闹事 集体投诉 联名"),
    "urgent": ("急难愁盼", "急难愁盼 紧急 着急 急需 急盼 恳请 恳求 求助 救救 求求 帮帮 走投无路 "
               "投诉无门 求助无门 无人管 没人管 没人处理 无人处理 无人问津 迟迟 多次反映 "
               "反映多次 多次投诉 至今未 至今没有 久拖不决 刻不容缓"),
    "minors": ("涉及学生/儿童", "学生 儿童 孩子 小孩 幼儿 婴儿 新生儿 未成年 少年 幼童 女童 "
               "男童"),
    "official_conduct": ("干部作风", "腐败 贪污 贪腐 受贿 索贿 行贿 挪用 侵吞 截留 不作为 乱作为 "
                         "慢作为 懒政 滥用职权 以权谋私 官僚主义 形式主义 吃拿卡要 包庇 徇私 "
                         "暴力执法 态度恶劣 推诿 踢皮球 敷衍 打官腔"),
    "spreading": ("传播扩散", "热搜 刷屏 求扩散 求转发 转发扩散 曝光 爆料 引发关注 热议"),
    "vulnerable": ("涉及困难群体", "老人 老年人 孤寡 残疾人 孕妇 低保户 困难群众 贫困户"),
}

#: Topic name -> trigger words.
TOPICS: dict[str, tuple[str, ...]] = {k: tuple(v.split()) for k, v in _TOPIC_WORDS.items()}
#: Signal name -> trigger words.
SIGNALS: dict[str, tuple[str, ...]] = {k: tuple(v[1].split()) for k, v in _SIGNAL_WORDS.items()}
#: Signal name -> the Chinese label analysts read ("watch" comes from ``watch_words``).
SIGNAL_LABELS: dict[str, str] = {k: v[0] for k, v in _SIGNAL_WORDS.items()} | {"watch": "关注词"}


def _load_extractor() -> Callable[..., list[str]]:
    """Import ``jieba.analyse`` on first use, with jieba's start-up chatter silenced."""
    global _extract_tags
    if _extract_tags is None:
        with _lock:
            if _extract_tags is None:
                try:  # the shared helper quiets jieba and puts its cache in the user's cache
                    from monitor.textseg import tokenizer
                except ImportError:
                    import jieba

                    jieba.setLogLevel(logging.WARNING)
                else:
                    tokenizer()  # extract_tags cuts with jieba.dt, the tokenizer set up here
                import jieba.analyse

                _extract_tags = jieba.analyse.extract_tags
    return _extract_tags


def _warn_once(key: str, message: str, *args: Any) -> None:
    if key not in _warned:  # settings are read per document: say it once, not per document
        _warned.add(key)
        log.warning(message, *args)


def _word_lists(value: Any, key: str) -> dict[str, list[str]]:
    """Check a ``{name = ["w1", "w2"]}`` table from the config; bad entries are skipped."""
    if not isinstance(value, dict):
        _warn_once(f"{key}", "[plugins.%s] %s should be a table of word lists; ignored",
                   NAME, key)
        return {}
    result = {}
    for name, words in value.items():
        if isinstance(words, str):
            words = [words]
        if not isinstance(words, list):
            _warn_once(f"{key}.{name}", "[plugins.%s] %s.%s should be a list of words; ignored",
                       NAME, key, name)
            continue
        result[str(name)] = [w.strip() for w in words if isinstance(w, str) and w.strip()]
    return result


def settings(monitor: Any = None) -> dict[str, Any]:
    """Effective settings: defaults overlaid with ``[plugins.topics]``."""
    config = getattr(monitor, "config", None)
    raw: dict[str, Any] = dict(config.plugin_config(NAME) or {}) if config is not None else {}
    merged: dict[str, Any] = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            _warn_once(key, "[plugins.%s] %s = %r is not a whole number >= 0; using %r",
                       NAME, key, value, default)
            value = default
        merged[key] = value
    merged["extra_topics"] = _word_lists(raw.get("extra_topics", {}), "extra_topics")
    merged["extra_signals"] = _word_lists(raw.get("extra_signals", {}), "extra_signals")
    watch = raw.get("watch_words", [])
    merged["watch_words"] = _word_lists({"watch": watch}, "watch_words").get("watch", [])
    return merged


def _merge(base: dict[str, tuple[str, ...]], extra: dict[str, list[str]]
           ) -> dict[str, tuple[str, ...]]:
    merged = {name: list(words) for name, words in base.items()}
    for name, words in extra.items():
        bucket = merged.setdefault(name, [])
        bucket.extend(w for w in words if w not in bucket)
    return {name: tuple(words) for name, words in merged.items() if words}


def tables(conf: dict[str, Any]) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Topic and signal word tables for these settings (built-in plus config), cached."""
    key = repr((conf["extra_topics"], conf["extra_signals"], conf["watch_words"]))
    found = _tables.get(key)
    if found is None:
        signals_extra = dict(conf["extra_signals"])
        if conf["watch_words"]:
            signals_extra["watch"] = signals_extra.get("watch", []) + conf["watch_words"]
        found = (_merge(TOPICS, conf["extra_topics"]), _merge(SIGNALS, signals_extra))
        if len(_tables) > 32:  # settings rarely change; keep the cache from growing in tests
            _tables.clear()
        _tables[key] = found
    return found


def _negated(text: str, start: int) -> bool:
    clause = text[max(0, start - 10):start]
    ends = list(_CLAUSE_END.finditer(clause))
    if ends:
        clause = clause[ends[-1].end():]
    return bool(_NEGATED.search(clause))


def find_terms(text: str, words: tuple[str, ...], negatable: bool = False) -> list[str]:
    """The words that occur in ``text`` (in table order); optionally not when negated."""
    found = []
    for word in words:
        start = text.find(word)
        if start < 0:
            continue
        if negatable:
            while start >= 0 and _negated(text, start):
                start = text.find(word, start + 1)
            if start < 0:
                continue
        found.append(word)
    return found


def scan_text(document: Any, max_chars: int = DEFAULTS["max_chars"]) -> str:
    """Title and text (for messages: the question), cleaned of control characters."""
    parts = (document.title or "", (document.text or "")[:max_chars])
    return _JUNK.sub(" ", "\n".join(p for p in parts if p.strip())).strip()


def keywords(text: str, top_k: int = DEFAULTS["top_k"]) -> list[str]:
    """Top ``top_k`` TF-IDF keywords of ``text``, without numbers and punctuation."""
    if top_k <= 0 or not _WORDISH.search(text):
        return []
    tags = _load_extractor()(text, topK=top_k * 2)
    return [t for t in tags if _WORDISH.search(t) and len(t.strip()) > 1][:top_k]


def classify(text: str, conf: dict[str, Any]) -> dict[str, Any]:
    """Topics, topic terms and signals found in ``text``."""
    topic_table, signal_table = tables(conf)
    hits = []
    for order, (name, words) in enumerate(topic_table.items()):
        terms = find_terms(text, words)
        if terms:
            hits.append((-len(terms), order, name, terms))
    hits.sort()
    hits = hits[:conf["max_topics"]]
    signals = []
    for name, words in signal_table.items():
        terms = find_terms(text, words, negatable=name in NEGATABLE_SIGNALS)
        if terms:
            signals.append({"name": name, "label": SIGNAL_LABELS.get(name, name),
                            "terms": terms})
    return {"topics": [h[2] for h in hits], "topic_terms": {h[2]: h[3] for h in hits},
            "signals": signals}


@hookimpl
def analyze_document(document: Any, monitor: Any) -> dict[str, Any] | None:
    """Keywords, topics and risk signals of the document; None when it has no text.

    ``monitor`` may be None (unit tests, scripts): the default settings are used then.
    """
    conf = settings(monitor)
    text = scan_text(document, conf["max_chars"])
    if not text:
        return None
    return {"keywords": keywords(text, conf["top_k"]), **classify(text, conf)}
