"""The read commands load only what they read with (issue 14): `hits`, `status`, `releases` and `digest
--dry-run` do their work without importing aiohttp, feedparser, trafilatura, APScheduler or Apprise, whose
import alone cost more CPU than their queries at 1,000,000 articles; `--help` loads neither the config
(pydantic) nor the store. Nor do they load the decide package beyond what they read with: the release
extraction's patterns (decide/releases.py, ~20 ms to compile), the story features and the Decider stay out; a
story's facts are merged by decide/merge.py. Nor do they compile the rules into a RuleSet, or load the matcher
(rules/ruleset.py, evaluate.py, matching.py): the digest reads only the rules' descriptions, kept between runs
(monitor/rulecache.py), so a second digest loads no rule file, nor the store's article-writing code. Each command runs
for real in a subprocess, which reports its modules at the end. Figures: bench/bench_queries.py."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from monitor.models import Article, FeedItem, Hit
from monitor.store import Store

# what only polling, extraction, sending or the service need
EDGES = ("aiohttp", "feedparser", "trafilatura", "lxml", "apscheduler", "apprise", "ruamel")
# what only storing new articles needs (the poll cycle, `rules test`)
DECIDING = ("monitor.decide.decider", "monitor.decide.releases", "monitor.decide.stories")
# what only matching articles needs: the rules' compiled form (a RuleBook compiles it when first asked)
MATCHING = ("monitor.rules.ruleset", "monitor.rules.evaluate", "monitor.rules.matching")
# the command line runs as the console script does, then prints the top-level modules it loaded
HARNESS = """
import json, sys
from monitor.cli import main
try:
    main(sys.argv[1:], prog_name="news-monitor")
    code = 0
except SystemExit as exc:
    code = exc.code or 0
print("MODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr)
sys.exit(code)
"""


def run(config, *args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """The command's result, and the modules it loaded: each top-level name, and every monitor module by name."""
    result = subprocess.run([sys.executable, "-c", HARNESS, "--config", str(config), *args],
                            capture_output=True, text=True, timeout=120)
    line = next(line for line in result.stderr.splitlines() if line.startswith("MODULES "))
    loaded = json.loads(line.removeprefix("MODULES "))
    return result, {name.split(".")[0] for name in loaded} | {name for name in loaded if name.startswith("monitor.")}


@pytest.fixture
def config(write_config):
    """A store with an hour-old release report that hit a rule: something for every read command to show."""
    path = write_config([])
    seen = datetime.now(UTC) - timedelta(hours=1)
    item = FeedItem("https://wire.example/feed", "Wire", "g1", "https://wire.example/a/1",
                    "Minsk frees 14 political prisoners", "", seen)
    text = "Authorities in Minsk freed 14 political prisoners on Tuesday, the Viasna rights group said."
    with Store.open(path.parent / "state" / "monitor.db") as store:
        store.add_article(Article(item=item, title=item.title, text=text, text_source="page", language="en"),
                          "g1", "u1", [Hit("belarus-political-prisoners", (), False, snippet=text)], seen, story=1,
                          facts={"number": 14, "names": [], "date": None, "language": "en", "destination": None,
                                 "broker": None})
    return path


@pytest.mark.parametrize("args, shows", [
    (["hits", "--since", "1d"], "Minsk frees 14 political prisoners"),
    (["hits", "--json"], '"rules": ["belarus-political-prisoners"]'),
    (["status"], "service: not running"),
    (["releases"], "14 released"),
    (["releases", "--json"], '"number": 14'),
    (["digest", "--dry-run"], "Minsk frees 14 political prisoners"),
], ids=" ".join)
def test_read_commands_import_no_edge_library(config, args, shows):
    result, modules = run(config, *args)
    assert result.returncode == 0, result.stderr
    assert shows in result.stdout  # the command did its work, not only its start
    assert not modules & set(EDGES), f"{' '.join(args)} imported {sorted(modules & set(EDGES))}"
    assert not modules & set(DECIDING), f"{' '.join(args)} imported {sorted(modules & set(DECIDING))}"
    assert not modules & set(MATCHING), f"{' '.join(args)} imported {sorted(modules & set(MATCHING))}"


def test_a_digest_reads_its_headings_without_loading_the_rules_or_the_deciding_code(config):
    """The rules' descriptions are kept between digests (monitor/rulecache.py): a second `digest --dry-run` neither
    loads the rule files nor the deciding code the store uses to write articles (the alert claim, the copy index
    and the sentence patterns it brings)."""
    first, modules = run(config, "digest", "--dry-run")
    assert first.returncode == 0, first.stderr
    assert "monitor.rules.files" in modules  # the first digest loads the rules once
    second, modules = run(config, "digest", "--dry-run")
    assert second.returncode == 0, second.stderr
    assert "Minsk frees 14 political prisoners" in second.stdout
    unwanted = {"monitor.rules.files", "monitor.rules.book", "monitor.decide.alerts", "monitor.decide.copies",
                "monitor.text.sentences"}
    assert not modules & unwanted, sorted(modules & unwanted)


def test_help_loads_neither_the_config_nor_the_store(config):
    result, modules = run(config, "--help")
    assert result.returncode == 0
    for command in ("run", "hits", "digest", "releases", "status", "prune", "search", "feeds", "channels",
                    "rules", "outbox", "export"):
        assert f"\n  {command} " in result.stdout
    assert not modules & {"pydantic", "sqlite_utils", "jinja2", *EDGES}, sorted(modules)


def test_the_harness_sees_an_edge_library_a_command_does_load(config):
    """The control: a cycle builds the whole pipeline (fetcher and channels), so aiohttp is there; `rules test`
    reads a text's release facts, so the extraction is there."""
    result, modules = run(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "0 feeds polled" in result.stdout and "aiohttp" in modules
    result, modules = run(config, "rules", "test", "all", "--text", "Minsk freed 14 political prisoners on Tuesday.")
    assert result.returncode == 0, result.stderr
    assert "belarus-prisoners: MATCH" in result.stdout and "monitor.decide.releases" in modules


def test_a_digest_sent_to_the_outbox_loads_no_http_client(config):
    """Sending a digest to the file outbox builds no fetcher: aiohttp (~0.2 s of CPU to import) and the other
    channels' modules stay out; the digest is written all the same."""
    result, modules = run(config, "digest")
    assert result.returncode == 0, result.stderr
    assert "1 items, 1 deliveries" in result.stdout
    (written,) = (config.parent / "state" / "outbox").glob("*digest*.json")
    assert "Minsk frees 14 political prisoners" in written.read_text(encoding="utf-8")
    unwanted = {"aiohttp", "monitor.fetch", "monitor.channels.email", "monitor.channels.slack",
                "monitor.channels.webhook", "smtplib"}
    assert not modules & unwanted, sorted(modules & unwanted)


def test_a_digest_to_a_webhook_builds_the_fetcher_and_delivers(write_config, monkeypatch):
    """The other side: a channel that posts over HTTP gets its fetcher from the sending digest, and delivers."""
    from tests.servers import Receiver

    monkeypatch.setenv("MONITOR_WEBHOOK_SECRET", "whsec_" + base64.b64encode(b"k" * 32).decode())  # its signing key
    with Receiver() as receiver:
        path = write_config([], channels=[{"type": "webhook", "name": "hook", "url": f"http://{receiver.base}/in"}])
        seen = datetime.now(UTC) - timedelta(hours=1)
        item = FeedItem("https://wire.example/feed", "Wire", "g1", "https://wire.example/a/1",
                        "Minsk frees 14 political prisoners", "", seen)
        with Store.open(path.parent / "state" / "monitor.db") as store:
            store.add_article(Article(item=item, title=item.title, text=item.title, text_source="page",
                                      language="en"), "g1", "u1",
                              [Hit("belarus-political-prisoners", (), False, snippet=item.title)], seen)
        result, modules = run(path, "digest")
        assert result.returncode == 0, result.stderr
        assert "1 items, 1 deliveries" in result.stdout
        assert "aiohttp" in modules and "monitor.channels.webhook" in modules
        (request,) = receiver.requests
        assert json.loads(request[2])["kind"] == "digest"


@pytest.mark.parametrize("fetch_pages", [True, False])
def test_run_extracts_pages_without_loading_trafilatura_in_the_main_process(site, write_config, fetch_pages):
    """The extraction workers import trafilatura and lxml (~0.2 s of CPU); the process that hands them the pages
    (and stores what they give back) never does, nor does a cycle that fetches no page."""
    path = write_config([{"url": site.url("/feeds/northwire.xml")}], fetch={"fetch_pages": fetch_pages},
                        extract={"workers": 1})
    result, modules = run(path, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert " new articles (0 from summary" in result.stdout if fetch_pages else " from summary" in result.stdout
    assert not modules & {"trafilatura", "lxml", "htmldate", "justext", "charset_normalizer"}, sorted(modules)
