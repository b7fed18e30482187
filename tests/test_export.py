"""`news-monitor export csv|json hits|releases` on a real SQLite store: the same records as `hits --json` and
`releases --json`, CSV that spreadsheets read back (quotes, commas, newlines, Cyrillic) with formulas defused."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.models import Article, Evidence, FeedItem, Hit
from monitor.records import HIT_FIELDS, RELEASE_FIELDS
from monitor.store import Store

NOW = datetime.now(UTC).replace(microsecond=0)
FACTS = {"number": 18, "names": ["Ales Bialiatski", "Мария Колесникова"], "date": "2026-03-09",
         "destination": "Lithuania", "broker": "John Coale", "language": "en"}


def hit(rule: str) -> Hit:
    return Hit(rule=rule, evidence=(Evidence("text", rule, 0, len(rule)),), alert=False, snippet=f"…{rule}…",
               why=f"matched {rule}")


@pytest.fixture
def config(write_config, tmp_path):
    path = write_config([], state_dir=str(tmp_path / "state"))
    titles = ['=HYPERLINK("http://evil.example","click")', 'Minsk frees 18, "a first step", says envoy\nand more',
              "Освобождены 18 политзаключённых"]
    with Store.open(tmp_path / "state" / "monitor.db") as store:
        for n, title in enumerate(titles, 1):
            item = FeedItem(feed_url="https://feeds.example/w.xml", feed_name="Wire, Minsk", guid=f"g{n}",
                            url=f"https://news.example/{n}", title=title, summary="", published=NOW)
            store.add_article(Article(item=item, title=title, text="Text.", text_source="page"), f"g{n}", f"u{n}",
                              [hit("belarus_political_prisoners"), hit("prisoner_releases")], NOW,
                              facts=FACTS if n == 2 else None)
    return path


def run(config, *args) -> str:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_json_exports_are_the_records_of_hits_and_releases(config):
    hits = json.loads(run(config, "export", "json", "hits"))
    assert hits == [json.loads(line) for line in run(config, "hits", "--json").splitlines()]
    assert len(hits) == 3 and tuple(hits[0]) == HIT_FIELDS
    releases = json.loads(run(config, "export", "json", "releases"))
    assert releases == [json.loads(line) for line in run(config, "releases", "--json").splitlines()]
    assert releases[0]["names"] == ["Ales Bialiatski", "Мария Колесникова"] and tuple(releases[0]) == RELEASE_FIELDS


def test_csv_reads_back_with_formulas_defused(config):
    rows = list(csv.DictReader(io.StringIO(run(config, "export", "csv", "hits", "--since", "1d"))))
    assert [r["title"] for r in rows] == ["'=HYPERLINK(\"http://evil.example\",\"click\")",
                                          'Minsk frees 18, "a first step", says envoy\nand more',
                                          "Освобождены 18 политзаключённых"]
    assert rows[0]["feed"] == "Wire, Minsk" and rows[0]["rules"] == "belarus_political_prisoners; prisoner_releases"
    assert rows[0]["alerted"] == "false"
    ledger = list(csv.DictReader(io.StringIO(run(config, "export", "csv", "releases"))))
    assert ledger[0]["number"] == "18" and ledger[0]["names"] == "Ales Bialiatski; Мария Колесникова"
    assert ledger[0]["broker"] == "John Coale"


def test_empty_exports_and_bad_arguments(write_config, tmp_path):
    config = write_config([], state_dir=str(tmp_path / "state"))
    assert run(config, "export", "csv", "releases").splitlines() == [",".join(RELEASE_FIELDS)]
    assert json.loads(run(config, "export", "json", "hits")) == []
    bad = CliRunner().invoke(main, ["--config", str(config), "export", "xml", "hits"])
    assert bad.exit_code == 2 and "csv" in bad.output
