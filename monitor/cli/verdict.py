"""What `rules test` and `rules near-misses` say about one text: per rule, whether it matches, whether the
monitor would alert and why (alert, alert_when, the release gate of `event: release`, the stale-news gate
`alerts.max_age`), the sentence and clauses that matched, and on a miss the clauses that failed.

Pure: the same matching (monitor.rules) and alert decisions (monitor.decide) the pipeline runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from monitor.decide.alerts import release_gate, stale_gate, wants_release_facts
from monitor.decide.releases import ReleaseFacts, release_facts
from monitor.rules.book import Rule, RuleBook
from monitor.rules.evaluate import bracketed, evaluate, failures, short
from monitor.rules.matching import in_title_and_text, index_article, match_article
from monitor.text.tokens import TextIndex


def verdicts(book: RuleBook, rules: Sequence[Rule], title: str, text: str, published: datetime | None = None,
             now: datetime | None = None, max_age: timedelta | None = None) -> list[dict]:
    """One verdict per rule of `rules` on the article (title, text), as JSON-ready dicts. With `published`
    and `now`, the stale-news gate (`max_age`) applies as in the pipeline."""
    index = index_article(title, text)
    hits = match_article(book, title, text)
    by_name = {r.name: r for r in book.rules}
    facts = release_facts(title, text, None, published) if wants_release_facts(hits, by_name) else None
    settled, _ = release_gate(hits, by_name, facts is not None)
    stale: tuple[str, ...] = ()
    if now is not None:
        settled, stale = stale_gate(settled, published, now, max_age)
    alerts = {h.rule: h.alert for h in settled}
    too_old = {reason.split(":", 1)[0]: reason.split(": ", 1)[1] for reason in stale}
    out = []
    ctx = book.ruleset.context(index)
    for rule in rules:
        if rule.name not in alerts:
            failed = failures(rule.node, index, ctx, program=book.ruleset.program(rule.name))
            out.append({"rule": rule.name, "matched": False, "alert": False, "why_alert": "no match",
                        "failed": failed[0] if failed else None, "failed_clauses": failed,
                        "near_miss": len(failed) == 1})
            continue
        match = in_title_and_text(evaluate(rule.node, index), title, text)
        field, sentence = bracketed(match, index)
        out.append({"rule": rule.name, "matched": True, "alert": alerts[rule.name],
                    "why_alert": alert_reason(rule, index, facts, alerts[rule.name], too_old.get(rule.name)),
                    "field": field, "sentence": sentence, "clauses": [short(c) for c in match.clauses],
                    "evidence": [_evidence(e, index) for e in match.evidence]})
    return out


def alert_reason(rule: Rule, index: TextIndex, facts: ReleaseFacts | None, alert: bool,
                 stale: str | None = None) -> str:
    """Why a matching rule would, or would not, alert at once (`stale`: the stale gate's reason, if it held
    the alert back)."""
    if rule.alert != "immediate":
        return f"alert: {rule.alert} - the hit waits for the digest"
    steps = ["alert: immediate"]
    if rule.alert_when is not None:
        missing = failures(rule.alert_when, index)
        if missing:
            return f"alert_when not met ({missing[0]}) - the digest has it"
        steps.append("alert_when met")
    if rule.event == "release":
        if facts is None:
            return "; ".join(steps) + "; event: release - no new release reported, so no alert (the digest has it)"
        steps.append("event: release - a new release reported" + _facts(facts))
    if stale:
        return "; ".join(steps) + f"; stale: {stale}"
    if alert:
        steps.append("alerts once per story (a later report of the same story is a follow-up)")
    return "; ".join(steps)


def _facts(facts: ReleaseFacts) -> str:
    said = [f"{facts.number} people" if facts.number else "",
            ", ".join(facts.names[:3]), f"to {facts.destination}" if facts.destination else "",
            f"via {facts.broker}" if facts.broker else ""]
    said = [s for s in said if s]
    return f" ({'; '.join(said)})" if said else ""


def _evidence(e, index: TextIndex) -> dict:
    return {"field": e.field, "term": e.term, "start": e.start, "end": e.end,
            "words": index.text(e.field)[e.start:e.end]}


def near_misses(book: RuleBook, rules: Sequence[Rule], title: str, text: str) -> dict[str, str]:
    """For each rule of `rules` (all in `book`) that misses the article by one clause only, that clause."""
    index = index_article(title, text)
    ruleset = book.ruleset
    ctx = ruleset.context(index)
    matching = set(ruleset.matching(index))
    out = {}
    for rule in rules:
        if rule.name not in matching:
            failed = failures(rule.node, index, ctx, limit=1, program=ruleset.program(rule.name))
            if len(failed) == 1:
                out[rule.name] = failed[0]
    return out

