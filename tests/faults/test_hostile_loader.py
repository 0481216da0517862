"""Hostile source files and ``monitor.toml`` files through the real loader (in process, fast).

Every generated ``sources/*.toml`` goes into one configuration directory and is read by one
``load_config`` call: each must come back as a source or as a one-line ConfigError naming its
file (never an exception, never a hang — a named pipe among them), and the ones whose fate is
certain (broken TOML, wrong types, addresses no crawl can use, codecs that are not charsets)
must be refused.  Each ``monitor.toml`` variant is its own directory: a clean ConfigError or a
configuration.
"""
from __future__ import annotations

import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from _hostile_checks import load_source_files, main_file_fate, source_fates
from hostile_local import main_files, source_files
from monitor.cli import cli
from monitor.errors import MonitorError

SEED = 6


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """(cases, MonitorConfig) for one directory holding every hostile source file."""
    cases = source_files(random.Random(SEED))
    root = tmp_path_factory.mktemp("hostile-config") / "config"
    return cases, load_source_files(root, cases)


def test_enough_hostile_source_files():
    cases = source_files(random.Random(SEED))
    assert len(cases) >= 200
    assert len({c.name for c in cases}) == len(cases)
    assert source_files(random.Random(SEED))[5].data == cases[5].data  # seeded


def test_every_source_file_is_a_source_or_a_one_line_error(loaded):
    cases, config = loaded
    fates = source_fates(cases, config)
    missing = [name for name, (fate, _) in fates.items() if fate == "missing"]
    assert not missing, f"files neither loaded nor reported: {missing}"
    assert all(e.path for e in config.source_errors), [str(e) for e in config.source_errors]
    for name, (fate, message) in fates.items():
        if fate == "reject":
            assert "\n" not in message and "Traceback" not in message, (name, message)
            assert name in message and len(message) < 1200, (name, message[:300])


def test_files_whose_fate_is_certain(loaded):
    cases, config = loaded
    fates = source_fates(cases, config)
    wrong = [(c.kind, c.name, c.expect, fates[c.name][0], fates[c.name][1][-160:])
             for c in cases if c.expect and fates[c.name][0] != c.expect]
    assert not wrong, wrong


@pytest.mark.parametrize("kind", ["bad urls", "bad page_url", "bad encodings", "bad selectors"])
def test_accepted_values_are_usable_by_a_crawl(loaded, kind):
    """What the loader lets through must not crash a crawl: addresses that parse and have a
    host, page templates that are addresses, text encodings, selectors that compile."""
    from urllib.parse import urlsplit

    from monitor.sourcefile import encoding_error, selector_error, url_error

    cases, config = loaded
    by_file = {Path(s.path).name: s for s in config.sources.values()}
    for case in cases:
        source = by_file.get(case.name)
        if case.kind != kind or source is None:
            continue
        assert url_error(source.url) is None and urlsplit(source.url).hostname
        if source.page_url:
            assert url_error(source.page_url.replace("{page}", "2")) is None, source.page_url
        if source.encoding:
            assert encoding_error(source.encoding) is None
            b"<html></html>".decode(source.encoding)
        for expr in source.selectors.values():
            assert selector_error(expr) is None


@pytest.mark.parametrize("index", range(len(main_files())))
def test_monitor_toml_variants(tmp_path, index):
    kind, text, expect = main_files()[index]
    try:
        fate, message = main_file_fate(tmp_path / "config", text)
    except MonitorError as exc:  # pragma: no cover - would be a wrong error class
        pytest.fail(f"{kind}: {type(exc).__name__}: {exc}")
    if fate == "reject":
        assert expect != "accept", (kind, text[:80], message)
        assert "\n" not in message and "monitor.toml" in message, message
    else:
        assert expect != "reject", (kind, text[:120], "was accepted")


@pytest.mark.parametrize("command", [["sources", "list"], ["sources", "list", "--json"],
                                     ["sources", "show", "f053"], ["sources", "show", "f097"],
                                     ["sources", "status"], ["store", "stats"]])
def test_cli_on_the_hostile_directory_shows_no_traceback(loaded, command):
    """The CLI reads the same directory (235 files, a named pipe among them): one-line errors."""
    cases, config = loaded
    result = CliRunner().invoke(cli, ["-c", str(config.config_dir), *command])
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in output, output[-1500:]
    assert result.exit_code in (0, 1), (result.exit_code, output[-500:])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    if command[:2] == ["sources", "list"]:
        assert "f053" in output and "f234" in output  # broken files are listed, by name


@pytest.mark.slow  # waits out a hang
def test_cli_show_of_a_named_pipe_does_not_hang(loaded):
    """``monitor sources show`` of a source whose file is a named pipe (in a subprocess: the
    read would block the test run forever)."""
    import subprocess
    import sys

    cases, config = loaded
    fifo = next(c for c in cases if c.special == "fifo").name.removesuffix(".toml")
    try:
        done = subprocess.run([sys.executable, "-m", "monitor", "-c", str(config.config_dir),
                               "sources", "show", fifo], capture_output=True, text=True,
                              timeout=8, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("`monitor sources show` of a named pipe hangs")
    assert "Traceback" not in done.stderr, done.stderr[-1500:]
    assert done.returncode in (0, 1), done.stderr[-500:]
