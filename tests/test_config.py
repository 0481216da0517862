"""Configuration files: good ones load, bad ones name the file, the key and the fix."""
import json
from pathlib import Path

import pytest

from monitor.config import SourceConfig, load_config, parse_source, read_toml
from monitor.errors import ConfigError
from monitor.starter import write_config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_starter_config_loads(tmp_path):
    write_config(tmp_path)
    config = load_config(tmp_path)
    assert config.timezone == "Asia/Shanghai"
    assert config.store.backend == "embedded"
    assert config.store.path == (tmp_path / "data" / "documents.db").resolve()
    assert config.state_url.endswith("data/state.db")
    assert list(config.sources) == ["example-portal"]
    assert config.sources["example-portal"].enabled is False
    assert config.source_errors == []


def test_starter_refuses_to_overwrite(tmp_path):
    write_config(tmp_path)
    with pytest.raises(ConfigError, match="already exists"):
        write_config(tmp_path)
    write_config(tmp_path, force=True)


def test_env_var_names_the_directory(tmp_path, monkeypatch):
    write_config(tmp_path)
    monkeypatch.setenv("MONITOR_CONFIG_DIR", str(tmp_path))
    assert load_config().config_dir == tmp_path.resolve()


def test_missing_directory_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError, match="monitor init"):
        load_config(tmp_path / "nope")


@pytest.mark.parametrize("text, key, message", [
    ('[monitor]\ntimezone = "Mars/Olympus"\n', "monitor.timezone", "unknown time zone"),
    ('[monitor]\ntimezon = "Asia/Shanghai"\n', "monitor.timezon", "did you mean 'timezone'"),
    ('[crawl]\ntimeout_seconds = "ten"\n', "crawl.timeout_seconds", "expected an integer"),
    ('[plugins]\ndisabled = "topics"\n', "plugins.disabled", "expected a list"),
    ('[stor]\nbackend = "embedded"\n', "stor", "did you mean 'store'"),
])
def test_bad_monitor_toml(tmp_path, text, key, message):
    write(tmp_path / "monitor.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.key == key
    assert message in str(info.value)
    assert "monitor.toml" in str(info.value)


def test_toml_syntax_error_names_the_file(tmp_path):
    write(tmp_path / "monitor.toml", "[monitor\n")
    with pytest.raises(ConfigError, match=r"monitor\.toml: not valid TOML"):
        load_config(tmp_path)


def test_non_utf8_file(tmp_path):
    (tmp_path / "monitor.toml").write_bytes('[monitor]\n# 注释\n'.encode("gbk"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(tmp_path)


GOOD_SOURCE = '''
name = "县长信箱"
spider = "message_board"
channel = "mailbox"
url = "http://127.0.0.1/mailbox/index.html"
max_pages = 2

[selectors]
links = "table a::attr(href)"
question = ".content"
'''


@pytest.mark.parametrize("edit, key, message", [
    (lambda t: t.replace('spider = "message_board"', 'spider = "mesage_board"'), "spider",
     "did you mean 'message_board'"),
    (lambda t: t.replace('channel = "mailbox"', 'channel = "email"'), "channel", "unknown channel"),
    (lambda t: t.replace("max_pages = 2", "max_page = 2"), "max_page",
     "did you mean 'max_pages'"),
    (lambda t: t.replace("max_pages = 2", "max_pages = -1"), "max_pages", "0 or more"),
    (lambda t: t.replace('url = "http://127.0.0.1/mailbox/index.html"', 'url = "ftp://x"'), "url",
     "http"),
    (lambda t: t.replace('question = ".content"', 'questoin = ".content"'), "selectors.questoin",
     "did you mean 'question'"),
    (lambda t: t.replace('spider = "message_board"\n', ""), "spider", "required"),
])
def test_bad_source_files_are_reported_not_fatal(tmp_path, edit, key, message):
    write_config(tmp_path, sources=[])
    write(tmp_path / "sources" / "good.toml", GOOD_SOURCE)
    bad = write(tmp_path / "sources" / "bad.toml", edit(GOOD_SOURCE))
    config = load_config(tmp_path)
    assert list(config.sources) == ["good"]
    [error] = config.source_errors
    assert str(bad) in str(error)
    assert message in str(error)
    assert error.key == key
    with pytest.raises(ConfigError, match=message):
        config.source("bad")


def test_unknown_source_lists_known_ones(tmp_path):
    write_config(tmp_path)
    with pytest.raises(ConfigError, match="known sources: example-portal"):
        load_config(tmp_path).source("nope")


def test_source_round_trip(tmp_path):
    source = SourceConfig(id="x", spider="news_list", channel="news", url="https://a.cn/l",
                          name='带"引号"的名字', own=True, max_pages=7, page_url="https://a.cn/l?p={page}",
                          selectors={"title": "h1::text", "content": "//div[@id='c']"})
    path = write(tmp_path / "x.toml", source.to_toml())
    again = parse_source(read_toml(path), path)
    again.path = None
    assert again == source


def test_page_url_needs_placeholder(tmp_path):
    path = write(tmp_path / "x.toml", 'spider="rss"\nchannel="news"\nurl="http://a"\n'
                 'page_url="http://a/2"\n')
    with pytest.raises(ConfigError, match=r"\{page\}"):
        parse_source(read_toml(path), path)


@pytest.mark.parametrize("selector", ["[[[", "xpath://div[", "//a[@href"])
def test_invalid_selectors_are_caught_when_the_file_is_read(tmp_path, selector):
    path = write(tmp_path / "x.toml", 'spider="news_list"\nchannel="news"\nurl="http://a"\n'
                 f'[selectors]\ntitle = {json.dumps(selector)}\n')
    with pytest.raises(ConfigError, match="invalid (CSS|XPath) selector") as info:
        parse_source(read_toml(path), path)
    assert info.value.key == "selectors.title"


def test_download_timeout_defaults_to_30_seconds_and_a_source_may_set_its_own(tmp_path):
    write_config(tmp_path, sources=[])
    write(tmp_path / "sources" / "good.toml", GOOD_SOURCE)
    write(tmp_path / "sources" / "slow.toml",
          GOOD_SOURCE.replace("max_pages = 2", "max_pages = 2\ndownload_timeout = 90"))
    config = load_config(tmp_path)
    assert config.crawl.download_timeout == 30.0
    assert config.sources["good"].download_timeout is None
    assert config.sources["slow"].download_timeout == 90.0
    main = tmp_path / "monitor.toml"
    main.write_text(main.read_text(encoding="utf-8").replace(
        "[crawl]\n", "[crawl]\ndownload_timeout = 12.5\n", 1), encoding="utf-8")
    assert load_config(tmp_path).crawl.download_timeout == 12.5
    source = SourceConfig(id="x", spider="rss", channel="news", url="https://a.cn/f",
                          download_timeout=5.0)
    assert "download_timeout = 5.0" in source.to_toml()
    path = write(tmp_path / "x.toml", source.to_toml())
    assert parse_source(read_toml(path), path).download_timeout == 5.0
    assert "download_timeout" not in SourceConfig(id="y", spider="rss", channel="news",
                                                  url="https://a.cn/f").to_toml()


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", "-inf", '"30"', "true"])
def test_download_timeout_must_be_positive_and_finite(tmp_path, value):
    write_config(tmp_path, sources=[])
    main = tmp_path / "monitor.toml"
    text = main.read_text(encoding="utf-8")
    main.write_text(text.replace("[crawl]\n", f"[crawl]\ndownload_timeout = {value}\n", 1),
                    encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.key == "crawl.download_timeout" and "\n" not in str(info.value)
    main.write_text(text, encoding="utf-8")
    bad = write(tmp_path / "sources" / "bad.toml",
                GOOD_SOURCE.replace("max_pages = 2", f"max_pages = 2\ndownload_timeout = {value}"))
    [error] = load_config(tmp_path).source_errors
    assert error.key == "download_timeout" and str(bad) in str(error)
