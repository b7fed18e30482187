"""Stories on held-out cases (issue 12): tests/fixtures/stories_heldout.yaml, written after stories were tuned on
stories.yaml and the rounds fixture, run oldest first through the shipped rules and the Decider as the pipeline
runs them. Pairwise precision and recall printed with -s; the issue's target: F1 >= 0.9 with precision >= 0.98,
and the hard boundaries exactly (a second release months later, a sidebar headline, formulaic reports of
different people, unrelated news never join).

Measured (`pytest -s tests/test_stories_heldout.py`): stories as main had them (4a83c2c), P 0.929 R 0.542
F1 0.684 - the exercise in four stories, the verdict apart from its trial, two formulaic sentencing reports
joined; now P 1.000 R 0.833 F1 0.909 - the Ukrainian first-day report of the exercise still starts its own
story (it shares only the exercise's name with the English one)."""

from __future__ import annotations

import yaml

from monitor.decide import Decider
from monitor.models import Article, FeedItem
from monitor.rules.files import load_rulebook
from monitor.rules.matching import match_article
from tests.helpers import FIXTURES, ROOT, pairwise_scores

ARTICLES = sorted(yaml.safe_load((FIXTURES / "stories_heldout.yaml").read_text(encoding="utf-8"))["articles"],
                  key=lambda a: a["published"])


def _run() -> tuple[dict[str, int], dict[str, str]]:
    book = load_rulebook(ROOT / "rules")
    rules = {r.name: r for r in book.rules}
    decider = Decider()
    found: dict[str, int] = {}
    reasons: dict[str, str] = {}
    for number, a in enumerate(ARTICLES, start=1):
        item = FeedItem(a["outlet"], a["outlet"], a["id"], f"https://{a['outlet']}.example/{a['id']}", a["title"],
                        "", a["published"])
        hits = match_article(book, a["title"], a["text"])
        assert hits, f"{a['id']} hits no rule"
        decision = decider.decide(Article(item, a["title"], a["text"], "page", None), hits, rules, a["published"])
        assert decision.duplicate_of is None, a["id"]
        decider.record(number, decision.story, decision, a["published"])
        found[a["id"]] = decision.story if decision.story is not None else number
        reasons[a["id"]] = decision.story_reason
    return found, reasons


def test_held_out_story_cases_pairwise_and_hard_boundaries():
    found, reasons = _run()
    truth = {a["id"]: a["story"] for a in ARTICLES}
    precision, recall, f1 = pairwise_scores(truth, found)
    print(f"\nheld-out stories: pairwise precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f}")
    for a in ARTICLES:
        print(f"  {a['id']:<14} story {found[a['id']]:>2} ({a['story']}): {reasons[a['id']][:110]}")
    assert f1 >= 0.9 and precision >= 0.98
    assert found["rel-march"] != found["rel-wire"] and found["sidebar"] != found["ex-day1"]
    assert found["form-a"] != found["form-b"] and found["form-a"] != found["trial-open"]
    assert len({found[k] for k in ("sanc-eu", "envoy-named", "rel-wire", "ex-day1", "trial-open")}) == 5
