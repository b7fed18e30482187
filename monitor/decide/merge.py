"""One story's release from its reports: the facts each release report gave (ReleaseFacts) merged into one
(the most reported number, each person once however spelled, the earliest date, the agreed destination). The
digest, its ledger and `releases` merge stored facts without loading the extraction (monitor/decide/releases.py,
whose patterns take ~20 ms to compile).

Pure: facts in, facts out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date

from monitor.text.lexicon import name_key

__all__ = ["COUNTRY_OF", "ReleaseFacts", "destination_country", "merge_facts", "merged_facts"]


@dataclass(frozen=True)
class ReleaseFacts:
    """What a release report says; None fields were not stated."""

    number: int | None  # the headline count of people released (not background numbers)
    names: tuple[str, ...]  # people released, as written
    date: date | None
    destination: str | None  # "Lithuania", "Vilnius", "Ukraine border"
    broker: str | None  # "John Coale", "Джон Коул", or a country
    language: str | None


# the country of a city, crossing or border a report names
COUNTRY_OF = {"Vilnius": "Lithuania", "Kyiv": "Ukraine", "Warsaw": "Poland", "Terespol": "Poland",
               "Medininkai": "Lithuania", "Lithuania border": "Lithuania", "Poland border": "Poland",
               "Ukraine border": "Ukraine", "Latvia border": "Latvia"}


def destination_country(destination: str | None) -> str | None:
    """The country of a destination as reports give it ("Vilnius", "Lithuania border" -> "Lithuania")."""
    return COUNTRY_OF.get(destination, destination) if destination else destination


def merge_facts(facts: Iterable[ReleaseFacts]) -> ReleaseFacts | None:
    """One story's release, from its articles' facts: the most reported number and destination, every
    person once, the earliest date, the first broker named. Destinations that agree count together, and the
    country wins over its city or border ("Vilnius", "Lithuania border" and "Lithuania" give "Lithuania")."""
    facts = list(facts)
    if not facts:
        return None
    counted = Counter(f.number for f in facts if f.number is not None)
    places = Counter(COUNTRY_OF.get(f.destination, f.destination) for f in facts if f.destination)
    names: dict[str, str] = {}
    for f in facts:
        for name in f.names:
            key = name_key(name)
            if not any(_same_person(key, seen) for seen in names):
                names[key] = name
    dates = [f.date for f in facts if f.date]
    return ReleaseFacts(
        number=counted.most_common(1)[0][0] if counted else None,
        names=tuple(names.values()),
        date=min(dates) if dates else None,
        destination=_merged_destination(facts, places.most_common(1)[0][0]) if places else None,
        broker=next((f.broker for f in facts if f.broker), None),
        language=facts[0].language,
    )


def _one_edit(a: str, b: str) -> bool:
    """Whether two keys are equal or one substitution, insertion or deletion apart."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    return a[i + 1:] == b[i + 1:] if len(a) == len(b) else a[i:] == b[i + 1:]


def _same_person(key: str, other: str) -> bool:
    """Two spellings of one person across scripts: the same surname key, or surname and first-name keys each
    at most one letter apart (Harbuz/Гарбуз, Ihar Lapatsin/Игорь Лапотин)."""
    a, b = key.split(), other.split()
    if not a or not b or a[-1] == b[-1]:
        return bool(a and b)
    if len(a) < 2 or len(b) < 2 or max(len(a[-1]), len(b[-1])) < 4:
        return False
    return _one_edit(a[-1], b[-1]) and _one_edit(a[0], b[0])


def _merged_destination(facts: list[ReleaseFacts], country: str) -> str:
    """The country when reports name it or give different places in it ("Vilnius" and "Lithuania border"), else
    the one city or border all of them give."""
    agreeing = {f.destination for f in facts if f.destination and COUNTRY_OF.get(f.destination,
                                                                                  f.destination) == country}
    return agreeing.pop() if len(agreeing) == 1 else country


def merged_facts(stored: Iterable[dict]) -> dict | None:
    """merge_facts over facts as stored (JSON dicts), back as a JSON-ready dict."""
    parsed = [ReleaseFacts(**{**f, "names": tuple(f.get("names") or ()),
                              "date": date.fromisoformat(f["date"]) if f.get("date") else None}) for f in stored]
    merged = merge_facts(parsed)
    if merged is None:
        return None
    return {**asdict(merged), "names": list(merged.names), "date": merged.date.isoformat() if merged.date else None}
