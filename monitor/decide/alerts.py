"""Which hits alert? A rule asks for alerts; a rule with `event: release` alerts only for a report of a new
release (the release gate); old news never alerts (the stale gate, `alerts.max_age`); a story alerts once
per rule, and its later reports are follow-ups.

Pure. The once-per-story claim is decided here (`claim`) but made inside `Store.add_article`'s transaction,
over the rules its story already alerted for: that transaction is why a crash neither loses nor repeats one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from monitor.models import Hit, StoryId
from monitor.rules.book import Rule


def wants_release_facts(hits: Sequence[Hit], rules: Mapping[str, Rule]) -> bool:
    """Whether any hit's rule alerts on releases, so the article's release facts are worth reading."""
    return any(rules[h.rule].event == "release" for h in hits if h.rule in rules)


def release_gate(hits: Sequence[Hit], rules: Mapping[str, Rule],
                 new_release: bool) -> tuple[tuple[Hit, ...], tuple[str, ...]]:
    """The hits with their alert flags settled, and why alerts the rules asked for were dropped: a rule
    with `event: release` alerts only when the article reports a new release."""
    settled, dropped = [], []
    for hit in hits:
        rule = rules.get(hit.rule)
        if hit.alert and rule is not None and rule.event == "release" and not new_release:
            settled.append(replace(hit, alert=False))
            dropped.append(no_release_reason(hit.rule))
        else:
            settled.append(hit)
    return tuple(settled), tuple(dropped)


def stale_gate(hits: Sequence[Hit], published: datetime | None, now: datetime,
               max_age: timedelta | None) -> tuple[tuple[Hit, ...], tuple[str, ...]]:
    """Old news goes to the digest, never to an alert: a new feed's backlog is not a flood of alerts. An
    undated item counts as published when first seen, which is now; `max_age` None turns the gate off."""
    if max_age is None or published is None or now - published <= max_age or not any(h.alert for h in hits):
        return tuple(hits), ()
    return (tuple(replace(h, alert=False) for h in hits),
            tuple(stale_reason(h.rule, published, now) for h in hits if h.alert))


def claim(hits: Sequence[Hit], alerted: Collection[str],
          story: StoryId) -> tuple[list[tuple[Hit, bool]], list[str], set[str]]:
    """Given the rules `story` already alerted for: each hit with whether it alerts now, the follow-up
    reasons for the alerts not raised again, and the story's alerted rules afterwards."""
    now_alerted = set(alerted)
    out: list[tuple[Hit, bool]] = []
    follow_ups: list[str] = []
    for hit in hits:
        alert = hit.alert and hit.rule not in now_alerted
        if hit.alert and not alert:
            follow_ups.append(follow_up_reason(hit.rule, story))
        if alert:
            now_alerted.add(hit.rule)
        out.append((hit, alert))
    return out, follow_ups, now_alerted


def no_release_reason(rule: str) -> str:
    return f"{rule}: no new release reported, so no alert (the digest has it)"


def stale_reason(rule: str, published: datetime, now: datetime) -> str:
    age = now - published
    return (f"{rule}: published {published:%Y-%m-%d %H:%M} UTC, {age.days}d {age.seconds // 3600}h ago — older than "
            "alerts.max_age, so no alert (the digest has it)")


def follow_up_reason(rule: str, story: StoryId) -> str:
    return f"{rule}: story {story} already alerted; this report is a follow-up"
