"""Run the hostile web corpus through the real spiders and account for every input.

:func:`build_sites` turns the generated cases into sources served by one
:class:`_hostile_server.HostileServer` — a few big sites (a list page or feed linking to
hundreds of bad pages, an API with hundreds of bad records), crawled for real into the store,
and many one-page sites (broken feeds and API pages), dry runs.  :func:`run_sites` crawls them
with :func:`monitor.crawl.run_crawl`, four at a time, and :func:`check_site` reads back what
happened to each input from the run report and the store.

The configuration sets ``[crawl] download_timeout`` (2 s: the slow-server cases would otherwise
take the default 30 s three times over), and the crawls go through ``[crawl] python``, a wrapper
around this interpreter that adds ``-s LOG_FILE`` (the whole log, for tracebacks;
``CrawlResult.log_tail`` keeps only the end).
"""
from __future__ import annotations

import json
import os
import random
import re
import stat
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostile import (ARTICLE_SELECTORS, LETTER_SELECTORS, Case, Response, article_html,
                     content, html_site, letter_html)
from hostile_feeds import (JSON, JSON_SELECTORS, RSS, feed_entries, feed_variants, feed_xml,
                           json_page, json_records, json_variants)
from _hostile_server import HostileServer
from monitor.config import SourceConfig, load_config
from monitor.crawl import CrawlResult, run_crawl
from monitor.starter import write_config
from monitor.store import SearchQuery

TAG = re.compile(r"(?:hx|lt|rs|js|rd|bg)\d{4}")
DOWNLOAD_TIMEOUT = 2
RECORDS_PER_PAGE = 30
#: Bad links on every list page: not addresses at all, or ones no request can be made for.
LIST_JUNK = ['<a href="javascript:alert(1)">x</a>', '<a href="mailto:a@b.c">x</a>',
             '<a href="http://[::1/x">bad host</a>', '<a href="http://127.0.0.1:99999/x">port</a>',
             '<a href="#top">top</a>', '<a href="">empty</a>', '<a>no href</a>']
UNUSABLE_LIST_LINKS = 2  # the bad host and the bad port above


@dataclass
class Site:
    """One source and its inputs: ``unit`` says what an input is (page, entry, record, feed)."""

    source: SourceConfig
    cases: list[Case]
    unit: str
    dry_run: bool = False
    repeats: int = 0  # records repeated exactly (the spider drops them without counting)


@dataclass
class SiteCheck:
    """What became of one site's inputs."""

    site: Site
    result: CrawlResult
    outcomes: dict[str, str] = field(default_factory=dict)  # case name → outcome
    crashes: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # inputs neither stored nor counted
    wrong: list[str] = field(default_factory=list)  # stored, but without their words
    caught: list[str] = field(default_factory=list)  # exceptions caught and logged at DEBUG

    @property
    def accounted(self) -> int:
        """items + skipped (+ errors for pages) as the run report counts them."""
        r = self.result.report
        n = int(r.get("items") or 0) + int(r.get("skipped") or 0)
        if self.site.unit in ("entry", "feed"):
            n += int((r.get("error_kinds") or {}).get("unreadable feed entry", 0))
        return n + (int(r.get("errors") or 0) if self.site.unit == "page" else 0)


def _page(path: str, body: str, ctype: str = "text/html; charset=utf-8") -> tuple[str, Response]:
    return path, Response(body=body.encode("utf-8"), content_type=ctype)


def big_cases(rng: random.Random, full: bool) -> list[Case]:
    """10 MB pages (and one over Scrapy's 16 MB limit); ``full`` adds the slow ones."""
    out = []
    c = content(rng, "bg0001")
    c.paragraphs = [c.paragraphs[0], "公示名单：" + "张三 李四 王五 低保 1234元。" * 260_000]
    out.append(Case("10 MB page", "bg0001", Response(body=article_html(c).encode()), "stored",
                    c.paragraphs[0][:12]))
    c = content(rng, "bg0002")
    noise = "".join(f"<span class=\"s{i % 7}\">{i}</span>" for i in range(400_000))
    out.append(Case("10 MB page", "bg0002", Response(body=article_html(
        c, body_extra=f"<div>{noise}</div>").encode()), "stored", c.paragraphs[0][:12]))
    out.append(Case("10 MB page", "bg0003", Response(body=b"<html><body><p>" + b"x" * 17_000_000
                                                     + b"</p></body></html>")))
    if full:
        c = content(rng, "bg0004")
        c.paragraphs.append("无空格" * 1_100_000)
        out.append(Case("10 MB page", "bg0004", Response(body=article_html(c).encode())))
        c = content(rng, "bg0005")
        out.append(Case("10 MB page", "bg0005", Response(body=article_html(
            c, body_extra="<p>" + "<br>" * 2_500_000 + "</p>").encode()), "stored",
            c.paragraphs[0][:12]))
    return out


def _href(case: Case, path: str) -> str:
    return case.extra.get("href") or f"{path}/{case.name}.html"


def _list_site(server: HostileServer, sid: str, spider: str, channel: str, path: str,
               cases: list[Case], selectors: dict, container: str) -> Site:
    links = "".join(f'<li><a href="{_href(c, path)}">{c.name}</a></li>' for c in cases)
    if container == "ul":
        page = f"<html><body><ul class=\"news\">{links}{''.join(LIST_JUNK)}</ul></body></html>"
    else:
        rows = links.replace("<li>", "<tr><td>").replace("</li>", "</td></tr>")
        page = (f"<html><body><table class=\"list\">{rows}<tr><td>{''.join(LIST_JUNK)}</td></tr>"
                f"</table></body></html>")
    server.add(*_page(f"{path}/index.html", page))
    for case in cases:
        server.add(_href(case, path), case.response)
        for extra_path, response in case.extra.get("also", {}).items():
            server.add(extra_path, response)
    source = SourceConfig(id=sid, spider=spider, channel=channel,
                          url=f"{server.base}{path}/index.html", max_pages=1,
                          selectors=selectors)
    return Site(source, cases, "page")


#: The one-page sites the test suite crawls (bench/bench_faults.py crawls them all).
QUICK_VARIANTS = {"truncated feed", "binary feed", "utf-16 feed", "entity expansion",
                  "external entity", "deep nesting", "bad entities", "redirect loop",
                  "slow feed", "truncated json", "items not a list", "utf-16 json",
                  "nan and infinity", "giant number", "slow server", "lying charset"}


def build_sites(server: HostileServer, seed: int, full: bool = False) -> list[Site]:
    """Every site of the corpus, served by ``server``; ``full`` adds the costly cases (more
    10 MB pages, every broken feed and API page; the tests take :data:`QUICK_VARIANTS`)."""
    rng = random.Random(seed)
    sites = [
        _list_site(server, "hostile-news", "news_list", "news", "/news",
                   html_site(rng, article_html, "hx", "/news"), ARTICLE_SELECTORS, "ul"),
        _list_site(server, "hostile-board", "message_board", "mailbox", "/board",
                   html_site(rng, letter_html, "lt", "/board", letters=True),
                   LETTER_SELECTORS, "table"),
    ]
    big = _list_site(server, "hostile-big", "news_list", "news", "/big", big_cases(rng, full),
                     ARTICLE_SELECTORS, "ul")
    sites.append(big)
    sites.append(_feed_site(server, rng))
    sites.append(_api_site(server, rng))
    keep = (lambda case: True) if full else (lambda case: case.kind in QUICK_VARIANTS)
    for case in filter(keep, feed_variants(rng)):
        _self_redirect(case, f"/fv/{case.name}.xml")
        server.add(f"/fv/{case.name}.xml", case.response)
        sites.append(Site(SourceConfig(id=f"feed-{case.name}", spider="rss", channel="news",
                                       url=f"{server.base}/fv/{case.name}.xml",
                                       fetch_detail=False), [case], "feed", dry_run=True))
    for case in filter(keep, json_variants(rng)):
        _self_redirect(case, f"/jv/{case.name}.json")
        server.add(f"/jv/{case.name}.json", case.response)
        sites.append(Site(SourceConfig(id=f"api-{case.name}", spider="message_board",
                                       channel="hotline", url=f"{server.base}/jv/{case.name}.json",
                                       format="json", selectors=JSON_SELECTORS),
                          [case], "api page", dry_run=True))
    return sites


def _self_redirect(case: Case, path: str) -> None:
    if case.response.location == "{self}":
        case.response.location = path


def _feed_site(server: HostileServer, rng: random.Random) -> Site:
    details = [c for c in html_site(rng, article_html, "rd", "/feed/item")
               if c.kind not in ("valid", "odd dates", "huge numbers")]
    cases = feed_entries(rng, "/feed/item", details)
    server.add("/feed/main.xml", Response(body=feed_xml([c.extra["xml"] for c in cases])
                                          .encode("utf-8"), content_type=RSS))
    for case in cases:
        if case.extra.get("detail"):
            server.add(case.extra["detail"], case.response)
    source = SourceConfig(id="hostile-feed", spider="rss", channel="news",
                          url=f"{server.base}/feed/main.xml", fetch_detail=True,
                          selectors={"content": "div.article"})
    return Site(source, cases, "entry")


def _api_site(server: HostileServer, rng: random.Random) -> Site:
    cases = json_records(rng)
    order = list(cases)
    rng.shuffle(order)
    pages = [order[i:i + RECORDS_PER_PAGE] for i in range(0, len(order), RECORDS_PER_PAGE)]
    for number, chunk in enumerate(pages + [[]], start=1):
        server.add(f"/api/page{number}.json",
                   Response(body=json_page([c.extra["record"] for c in chunk]), content_type=JSON))
    source = SourceConfig(id="hostile-api", spider="message_board", channel="hotline",
                          url=f"{server.base}/api/page1.json",
                          page_url=f"{server.base}/api/page{{page}}.json", max_pages=0,
                          format="json", selectors=JSON_SELECTORS)
    return Site(source, cases, "record",
                repeats=sum(1 for c in cases if c.extra.get("repeat_of")))


# -- running ---------------------------------------------------------------------------------

def write_corpus_config(directory: Path, sites: list[Site], logs: Path,
                        log_level: str = "INFO") -> Path:
    """A configuration directory for ``sites`` whose crawls run through the logging wrapper."""
    write_config(directory, sources=[s.source for s in sites], disabled=["sentiment_snownlp"])
    logs.mkdir(parents=True, exist_ok=True)
    wrapper = directory / "crawl-python"
    wrapper.write_text(
        "#!/bin/sh\n# the real interpreter, with the whole log kept\n"
        "src=unknown\nfor a in \"$@\"; do case \"$a\" in source=*) src=\"${a#source=}\";; esac; "
        "done\n"
        f"exec '{sys.executable}' \"$@\" "
        f"-s LOG_FILE='{logs}'/\"$src\".log -s LOG_LEVEL={log_level}\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    main = directory / "monitor.toml"
    text = main.read_text(encoding="utf-8")
    main.write_text(text.replace("[crawl]\n", f"[crawl]\npython = \"{wrapper}\"\n"
                                 f"download_timeout = {DOWNLOAD_TIMEOUT}\n", 1),
                    encoding="utf-8")
    return directory


def run_sites(config_dir: Path, sites: list[Site], parallel: int = 4,
              timeout: float = 240) -> dict[str, CrawlResult]:
    """Crawl every site (real or dry run as the site says), ``parallel`` at a time."""
    config = load_config(config_dir)
    assert not config.source_errors, config.source_errors
    order = sorted(sites, key=lambda s: (s.dry_run, -len(s.cases)))  # the long ones first

    def one(site: Site) -> CrawlResult:
        return run_crawl(config, site.source.id, dry_run=site.dry_run, timeout=timeout)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        results = list(pool.map(one, order))
    return {r.source: r for r in results}


def stored_by_tag(store: Any, source_id: str) -> dict[str, list[Any]]:
    """The stored documents of one source by the case tags found in them."""
    found: dict[str, list[Any]] = {}
    offset, page = 0, 10_000  # the store's largest page
    while True:
        result = store.search(SearchQuery(sources=[source_id], limit=page, offset=offset,
                                          sort="newest"))
        for hit in result.hits:
            for tag in _tags(hit.document):
                found.setdefault(tag, []).append(hit.document)
        offset += len(result.hits)
        if len(result.hits) < page:
            return found


def _tags(doc: Any) -> set[str]:
    head = " ".join([doc.url, doc.title[:200], (doc.platform_id or "")[:100], doc.text[:300],
                     json.dumps(doc.extra, ensure_ascii=False)[:300]])
    return set(TAG.findall(head))


def _plain(text: str) -> str:
    return "".join(text.split())


def crash_signs(result: CrawlResult, log: str) -> list[str]:
    """Why this crawl counts as a crash: exit code, timeout, fatal, no report, a traceback."""
    signs = []
    if result.returncode not in (0, None):
        signs.append(f"exit code {result.returncode}: {result.message[:200]}")
    if "timed out" in result.message:
        signs.append(f"hang: {result.message}")
    if not result.report:
        signs.append(f"no run report: {result.message[:200]}")
    if result.report.get("fatal"):
        signs.append(f"fatal: {result.report['fatal'][:200]}")
    for text in (log, result.log_tail):
        found = tracebacks(text)
        if found["shown"]:
            signs.append(f"traceback: {found['shown'][0]}")
            break
    for kind, count in (result.report.get("error_kinds") or {}).items():
        if re.match(r"^(parse|pipeline|store): [A-Z]\w*(Error|Exception)$", kind):
            signs.append(f"{kind} ×{count}: an exception while reading a page")
    return signs


_TRACEBACK = "Traceback (most recent call last)"


def tracebacks(log: str) -> dict[str, list[str]]:
    """The exception line of every traceback in ``log``: ``shown`` (printed, or logged at INFO
    or above) and ``debug`` (logged with a DEBUG record: caught, seen only at LOG_LEVEL DEBUG)."""
    out: dict[str, list[str]] = {"shown": [], "debug": []}
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith(_TRACEBACK):
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j] and not lines[j][0].isspace()),
                   len(lines) - 1)
        frames = [m for m in (re.search(r'/((?:monitor|spiders|plugins)/[\w/]+\.py)", line (\d+), '
                                        r"in (\w+)", ln) for ln in lines[i:end]) if m]
        where = f" ({frames[-1].group(1)}:{frames[-1].group(2)} {frames[-1].group(3)})" \
            if frames else ""
        before = lines[i - 1] if i else ""
        kind = "debug" if re.search(r"\] DEBUG: ", before) else "shown"
        out[kind].append(lines[end][:200] + where)
    return out


def check_site(site: Site, result: CrawlResult, docs: dict[str, list[Any]],
               log_file: Path) -> SiteCheck:
    """Account for every input of ``site`` (see the module docstring)."""
    log = log_file.read_text(encoding="utf-8", errors="replace") if log_file.exists() else ""
    check = SiteCheck(site, result, crashes=crash_signs(result, log),
                      caught=tracebacks(log)["debug"])
    report = result.report
    if site.unit in ("feed", "api page"):
        return _check_variant(check)
    for case in site.cases:
        tag = case.extra.get("twin_of") or case.extra.get("repeat_of") or case.name
        stored = docs.get(tag, [])
        if stored:
            check.outcomes[case.name] = "stored"
            if case.expect == "stored" and case.phrase and site.unit == "page":
                texts = [_plain(d.title + d.text + (d.reply.text if d.reply else ""))
                         for d in stored]
                if not any(_plain(case.phrase) in t for t in texts):
                    check.wrong.append(f"{case.kind} {case.name}: {case.phrase!r} not in "
                                       f"{texts[0][:60]!r}")
            continue
        check.outcomes[case.name] = _reason(case, report) or _log_reason(case, log)
        if case.expect == "stored":
            check.lost.append(f"{case.kind} {case.name}: not stored "
                              f"({check.outcomes[case.name]})")
    expected = len(site.cases) - site.repeats
    if check.accounted != expected:
        check.lost.append(f"{site.source.id}: {expected} inputs, but the report accounts for "
                          f"{check.accounted} (items {report.get('items')}, skipped "
                          f"{report.get('skipped')}, errors {report.get('errors')})")
    return check


def _reason(case: Case, report: dict) -> str:
    """The skip or error the report noted for this case's URL (the first 50 notes only)."""
    errors = tuple(report.get("error_kinds") or {})
    for message in report.get("messages") or []:
        if not re.search(rf"/{case.name}(?![0-9])", message):
            continue
        found = re.match(r"^skipped \((.*?)\): ", message)
        if found:
            return f"skip: {found.group(1)}"
        head = message.split(": ", 1)[0]
        if head in errors:
            return f"error: {head}"
    return ""


#: What a crawl log (LOG_LEVEL DEBUG) says became of a request: pattern → outcome.
_LOG_FATES = [
    (r"Filtered duplicate request", "dropped by the duplicate filter (not counted)"),
    (r"Ignoring link \(url length", "dropped: address too long (not counted)"),
    (r"exceeded DOWNLOAD_MAX", "skip: body over DOWNLOAD_MAXSIZE"),
    (r"Gave up retrying .*took longer than", "error: download timeout"),
    (r"Got data loss", "error: data loss (connection closed early)"),
    (r"Gave up retrying .*\): (\d{3} [\w ]+)", "error: HTTP {0}"),
    (r"max redirections", "skip: too many redirects"),
    (r"Crawled \(([3-9]\d\d)\)", "error: HTTP {0}"),
    (r"skipped document .*?: (.*)$", "skip (pipeline): {0}"),
    (r"Error downloading", "error: download"),
    (r"Crawled \(200\)", "skip: no document in the page"),
]


def _log_reason(case: Case, log: str) -> str:
    """The outcome the crawl log shows for this case's URL (with LOG_LEVEL DEBUG), else
    "not stored"."""
    lines = [ln for ln in log.splitlines() if re.search(rf"/{case.name}(?![0-9])", ln)]
    for pattern, outcome in _LOG_FATES:
        for line in reversed(lines):
            found = re.search(pattern, line)
            if found:
                return outcome.format(*found.groups())
    return "not stored"


def _check_variant(check: SiteCheck) -> SiteCheck:
    """A one-page site: failed with a message, or its entries/records all accounted for."""
    case = check.site.cases[0]
    report, result = check.result.report, check.result
    body = case.response.body
    if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        body = body.decode("utf-16").encode("utf-8")
    hidden = re.sub(rb"<!\[CDATA\[.*?\]\]>", b"", body, flags=re.S)
    expected = hidden.count(b"<item>") if check.site.unit == "feed" else 0
    counted = check.accounted if check.site.unit == "feed" else int(report.get("items") or 0)
    noted = bool(report.get("errors") or report.get("warnings") or report.get("skipped")
                 or report.get("selector_misses"))
    if result.status == "failed":
        message = re.sub(r"\s*https?://\S+", "", result.message)
        check.outcomes[case.name] = f"crawl failed: {message[:80]}"
    elif counted:
        check.outcomes[case.name] = f"read: {report.get('items')} items, " \
                                    f"{report.get('skipped')} skipped"
    elif noted:
        kinds = list(report.get("error_kinds") or {}) + list(report.get("warnings") or {}) + [
            f"{name} selector found nothing" for name in report.get("selector_misses") or {}]
        check.outcomes[case.name] = "counted: " + ", ".join(kinds[:3])
    else:
        check.outcomes[case.name] = "nothing"
        check.lost.append(f"{case.kind} {case.name}: nothing stored and nothing counted")
    if counted != expected and result.status != "failed" and check.site.unit == "feed" \
            and "parse: not a feed" not in (report.get("error_kinds") or {}):
        check.lost.append(f"{case.kind} {case.name}: {expected} entries, {counted} accounted "
                          f"for")
    return check


def tally(checks: list[SiteCheck]) -> dict[str, Counter]:
    """Outcomes by input kind: ``{kind: Counter(outcome)}`` (an outcome is "stored",
    "skip: reason", "error: kind", "failed: …" or "not stored")."""
    kinds: dict[str, Counter] = {}
    for check in checks:
        prefix = {"feed": "whole feed: ", "api page": "whole API page: "}.get(check.site.unit, "")
        for case in check.site.cases:
            outcome = check.outcomes.get(case.name, "?")
            kinds.setdefault(prefix + case.kind, Counter())[outcome] += 1
    return kinds


def log_path(logs: Path, source_id: str) -> Path:
    """Where the wrapper wrote one source's log."""
    return logs / f"{source_id}.log"


def environment_note() -> str:
    """One line on where the corpus ran (for the benchmark page)."""
    return f"Python {sys.version.split()[0]}, {os.cpu_count()} cores"
