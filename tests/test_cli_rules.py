"""`rules test` (text, file, URL; --json) and `rules backtest` against stored articles."""

from __future__ import annotations

import json

from click.testing import CliRunner

from monitor.cli import main
from tests.helpers import SITE


def invoke(config, *args):
    return CliRunner().invoke(main, ["--config", str(config), *args])


def test_rules_test_on_text_says_why_and_exits_zero_either_way(write_config):
    config = write_config([])
    hit = invoke(config, "rules", "test", "belarus-prisoners", "--text",
                 "Minsk freed 14 political prisoners on Tuesday, Viasna said.")
    assert hit.exit_code == 0 and "belarus-prisoners: MATCH" in hit.output
    assert "[political prisoners]" in hit.output  # the matched words, highlighted in the sentence
    miss = invoke(config, "rules", "test", "zapad", "--text", "Zapad Logistics opened a warehouse in Kaunas.")
    assert miss.exit_code == 0 and "zapad: no match" in miss.output


def test_rules_test_json_for_all_rules(write_config):
    result = invoke(write_config([]), "rules", "test", "all", "--json", "--text",
                    "The EU adopted new sanctions on Belarus and Belaruskali potash.")
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["rule"] for r in rows] == ["belarus-prisoners", "coale", "sanctions", "zapad"]
    assert {r["rule"]: r["matched"] for r in rows} == {"belarus-prisoners": False, "coale": False,
                                                      "sanctions": True, "zapad": False}
    assert all({"rule", "matched", "why"} <= r.keys() for r in rows)


def test_rules_test_on_a_page_sees_only_the_article(site, write_config):
    config = write_config([])
    trap = SITE / "articles/baltic-ledger/lithuania-september-heat-record.html"
    from_file = invoke(config, "rules", "test", "all", "--file", str(trap))
    assert from_file.exit_code == 0 and "MATCH" not in from_file.output  # sidebar headlines are not the article
    from_url = invoke(config, "rules", "test", "coale", "--url", site.url("/articles/northwire/belarus-frees-31.html"))
    assert from_url.exit_code == 0 and "coale: MATCH" in from_url.output


def test_rules_test_rejects_bad_input(write_config):
    config = write_config([])
    assert invoke(config, "rules", "test", "nosuchrule", "--text", "x").exit_code == 2
    assert invoke(config, "rules", "test", "zapad").exit_code == 2  # no input given
    assert invoke(config, "rules", "test", "zapad", "--text", "a", "--url", "http://x.test/").exit_code == 2


def test_backtest_lists_what_an_edit_would_add_and_remove(site, write_config, tmp_path):
    feeds = [{"url": site.url(p)} for p in ("/feeds/northwire.xml", "/feeds/baltic-ledger.rdf",
                                           "/feeds/minsk-monitor.atom")]
    config = write_config(feeds)
    assert invoke(config, "run", "--once").exit_code == 0
    unchanged = invoke(config, "rules", "backtest", "all")
    assert unchanged.exit_code == 0 and "0 would be added, 0 removed" in unchanged.output

    (tmp_path / "rules" / "zapad.yaml").write_text("name: zapad\nquery: zapad\n")  # too broad: a trap
    broad = invoke(config, "rules", "backtest", "zapad", "--since", "7d")
    assert broad.exit_code == 0
    assert "+ [zapad] Zapad Logistics opens cross-dock hub" in broad.output
    assert "1 would be added, 0 removed" in broad.output

    (tmp_path / "rules" / "zapad.yaml").write_text("name: zapad\nquery: 'zapad NEAR/2 parade'\n")
    narrow = invoke(config, "rules", "backtest", "zapad", "--json")
    removed = [json.loads(line) for line in narrow.stdout.splitlines() if line.startswith("{")]
    assert [r["change"] for r in removed] == ["remove"] and "Zapad-2025" in removed[0]["title"]


def test_backtest_through_the_automaton_decides_as_each_rule_alone(write_config, tmp_path, monkeypatch):
    """Backtest tests every rule through the RuleSet's keyword automaton; on the labelled texts (and their
    traps) it must say exactly what evaluating each rule's tree alone says. Progress goes to stderr."""
    from datetime import UTC, datetime

    import yaml

    from monitor.cli import rules as rules_cli
    from monitor.models import Article, FeedItem
    from monitor.rules.evaluate import evaluate
    from monitor.rules.files import load_rulebook
    from monitor.rules.matching import index_article
    from monitor.store import Store
    from tests.helpers import ROOT

    config = write_config([])
    texts = yaml.safe_load((ROOT / "tests" / "fixtures" / "labelled.yaml").read_text(encoding="utf-8"))["texts"]
    now = datetime.now(UTC)
    with Store.open(tmp_path / "state" / "monitor.db") as store:
        for n, entry in enumerate(texts):
            item = FeedItem("https://f.example/feed", "F", f"g{n}", f"https://f.example/{n}", entry["title"], "", now)
            store.add_article(Article(item, entry["title"], entry["text"], "page"), f"g{n}", f"u{n}", [], now)
    book = load_rulebook(tmp_path / "rules")
    expected = sorted((rule.name, f"https://f.example/{n}") for n, entry in enumerate(texts) for rule in book.rules
                      if evaluate(rule.node, index_article(entry["title"], entry["text"])).matched)
    assert len(expected) > 40

    monkeypatch.setattr(rules_cli, "_PROGRESS_FROM", 0)
    result = invoke(config, "rules", "backtest", "all", "--json")
    assert result.exit_code == 0
    found = sorted((r["rule"], r["url"]) for r in map(json.loads, result.stdout.splitlines()) if r["change"] == "add")
    assert found == expected
    assert f"backtest: {len(texts):,} articles in" in result.stderr
    one = invoke(config, "rules", "backtest", "zapad", "--json")
    assert sorted((r["rule"], r["url"]) for r in map(json.loads, one.stdout.splitlines())) == \
        [pair for pair in expected if pair[0] == "zapad"]


def test_rules_test_says_whether_it_would_alert_and_why(write_config):
    config = write_config([])
    release = invoke(config, "rules", "test", "belarus-prisoners", "--title",
                     "Belarus frees 52 political prisoners after US envoy's visit", "--text",
                     "Belarus released 52 prisoners on Thursday after talks in Minsk. They crossed into Lithuania.")
    assert release.exit_code == 0 and "belarus-prisoners: MATCH" in release.output
    assert ("ALERT: alert: immediate; alert_when met; event: release - a new release reported (52 people"
            in release.output)
    call = invoke(config, "rules", "test", "belarus-prisoners", "--title",
                  "Tsikhanouskaya urges EU to press for release of political prisoners", "--text",
                  "Viasna said more than a thousand political prisoners remain in Belarus.")
    assert "no alert: alert_when not met (excluded by NOT title:" in call.output
    digest = invoke(config, "rules", "test", "sanctions", "--text", "The EU extended sanctions on Belarus.")
    assert "no alert: alert: digest - the hit waits for the digest" in digest.output
    guarded_config = write_config([], alerts={"max_age": "2d"})  # the stale-news guard on, as shipped
    old = invoke(guarded_config, "rules", "test", "belarus-prisoners", "--published", "2021-06-01", "--title",
                 "Belarus frees 52 political prisoners after US envoy's visit", "--text",
                 "Belarus released 52 prisoners on Thursday after talks in Minsk. They crossed into Lithuania.")
    assert "no alert: " in old.output and "; stale: published 2021-06-01 00:00 UTC" in old.output
    assert "older than alerts.max_age" in old.output
    miss = invoke(config, "rules", "test", "coale", "--text", "John Coale paints landscapes in Hobart.")
    assert "coale: no match\n    failed: @belarus OR @lukashenko" in miss.output


def test_rules_test_jsonl_gives_one_line_per_text_in_one_process(write_config, tmp_path):
    lines = [
        {"id": "release", "title": "Lukashenko pardons 16 political prisoners",
         "text": "Alexander Lukashenko pardoned 16 people, Viasna said. They were freed on Friday."},
        {"text": "FK Zapad beat Radnicki 2-1 in the Srpska liga Zapad on Sunday."},
        {"text": "Envoy John Cole met Lukashenko in Minsk.", "published": "2020-01-02T03:04:05"},
    ]
    source = tmp_path / "texts.jsonl"
    source.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n\n" + json.dumps({"title": "x"}) + "\n",
                      encoding="utf-8")
    result = invoke(write_config([]), "rules", "test", "all", "--jsonl", str(source))
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 6]
    first = {v["rule"]: v for v in rows[0]["results"]}
    assert rows[0]["id"] == "release" and first["belarus-prisoners"]["matched"] and first["belarus-prisoners"]["alert"]
    assert "[pardons]" in first["belarus-prisoners"]["sentence"] and first["belarus-prisoners"]["field"] == "title"
    assert "@lukashenko" in first["belarus-prisoners"]["clauses"]  # aliases shown by name
    assert {e["words"] for e in first["belarus-prisoners"]["evidence"]} >= {"pardons", "Lukashenko"}
    assert not first["coale"]["matched"] and first["coale"]["failed"] == "@coale: not found"
    zapad = {v["rule"]: v for v in rows[1]["results"]}["zapad"]
    assert not zapad["matched"] and zapad["near_miss"]  # the name is there; the military words are not
    cole = {v["rule"]: v for v in rows[2]["results"]}["coale"]
    assert cole["matched"] and not cole["alert"] and cole["why_alert"].startswith("alert: digest")
    assert rows[3]["error"].startswith("line 4: ")
    assert rows[4]["error"] == 'line 6: expected an object with a "text" string'


def test_near_misses_lists_what_a_rule_almost_caught(site, write_config):
    feeds = [{"url": site.url(p)} for p in ("/feeds/northwire.xml", "/feeds/baltic-ledger.rdf",
                                           "/feeds/minsk-monitor.atom")]
    config = write_config(feeds)
    assert invoke(config, "run", "--once").exit_code == 0
    result = invoke(config, "rules", "near-misses", "zapad", "--since", "7d")
    assert result.exit_code == 0
    assert "[zapad] Zapad Logistics opens cross-dock hub" in result.output
    assert "missing: exercise* OR drill OR drills" in result.output
    assert "Zapad-2025" not in result.output  # what the rule matches is no near miss
    rows = [json.loads(line) for line in invoke(config, "rules", "near-misses", "all", "--json").stdout.splitlines()]
    assert rows and all({"rule", "missing", "url", "title"} <= r.keys() for r in rows)
    assert invoke(config, "rules", "near-misses", "zapad", "--since", "soon").exit_code == 2


def test_near_miss_walk_stopping_early_says_the_same():
    """near-misses walks failures with limit=1 (past two failing clauses, labels only; an OR stops at an
    alternative missing one clause): on every coverage text and shipped rule it finds the same near misses,
    with the same clause, as the full walk `rules test` prints."""
    import yaml

    from monitor.rules.evaluate import failures
    from monitor.rules.files import load_rulebook
    from monitor.rules.matching import index_article
    from tests.helpers import FIXTURES, ROOT

    book = load_rulebook(ROOT / "rules")
    near = 0
    for t in yaml.safe_load((FIXTURES / "coverage.yaml").read_text(encoding="utf-8"))["texts"]:
        index = index_article(t["title"] or "", t["text"])
        ctx = book.ruleset.context(index)
        for rule in book.rules:
            full, quick = failures(rule.node, index, ctx), failures(rule.node, index, ctx, limit=1)
            assert (len(full) == 1) == (len(quick) == 1), (t["id"], rule.name, full, quick)
            if len(full) == 1:
                near += 1
                assert quick == full
            if len(full) <= 1:
                assert quick == full
    assert near > 50
