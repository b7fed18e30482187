"""Generated formulaic coverage for story-grouping at volume: many SEPARATE reports written from the same
few templates (jail sentences of different people; different meetings that mention the US envoy), plus a
few real multi-report stories worded differently by each outlet. Own wording; every name is invented.

`corpus(seed, sentences=..., envoy=..., stories=...)` returns articles oldest first, each a dict with
id, title, text, published, rules and story (the true label: separate reports each have their own).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from monitor.text.lexicon import name_key

START = datetime(2025, 9, 1, 6, tzinfo=UTC)
DAYS = 60

_FIRST = ("Aliaksandr", "Siarhei", "Andrei", "Dzmitry", "Ihar", "Uladzimir", "Mikalai", "Pavel", "Viktar",
          "Yauhen", "Aliaksei", "Maksim", "Raman", "Vadzim", "Kiryl", "Anton", "Iryna", "Natallia", "Volha",
          "Tatsiana", "Hanna", "Maryia", "Yuliya", "Alena", "Sviatlana", "Katsiaryna", "Liudmila", "Darya",
          "Palina", "Veranika")
_SYLLABLES = ("ka", "lo", "vi", "ra", "shu", "mer", "zan", "dzi", "bo", "la", "hor", "tsa", "mi", "ne", "ku",
              "sho", "pa", "ly", "vo", "ta", "zhu", "rak", "ven", "dol", "bi", "sa", "mo", "hu", "ni")
_ENDINGS = ("enka", "ovich", "evich", "ski", "ka", "uk", "chyk", "ets", "au", "ou", "onak", "ich")
_TOWNS = ("Minsk", "Hrodna", "Homel", "Brest", "Vitsebsk", "Mahiliou", "Babruisk", "Baranavichy", "Barysau",
          "Pinsk", "Orsha", "Mazyr", "Salihorsk", "Lida", "Navapolatsk", "Polatsk", "Maladzechna", "Zhlobin",
          "Svetlahorsk", "Rechytsa", "Slutsk", "Kobryn", "Vaukavysk", "Zhodzina", "Slonim", "Kalinkavichy",
          "Smarhon", "Asipovichy", "Dzyarzhynsk", "Horki")
_JOBS = ("teacher", "pensioner", "engineer", "nurse", "IT specialist", "lorry driver", "student", "doctor",
         "factory worker", "musician", "priest", "shop assistant", "journalist", "football fan", "librarian",
         "entrepreneur", "electrician", "architect", "farmer", "photographer")
_OFFENCES = (
    ("comments on social media", "insulting Lukashenka"),
    ("donations to a protest fund", "financing extremist activity"),
    ("a photograph with a white-red-white flag", "taking part in group actions that gravely violate public order"),
    ("messages in a neighbourhood chat", "inciting hatred"),
    ("a subscription to an exile news channel", "facilitating extremist activity"),
    ("an interview with an exile outlet", "discrediting the Republic of Belarus"),
    ("taking part in the 2020 protests", "mass riots"),
    ("a post about the war in Ukraine", "calls for sanctions"),
)
_REGIMES = ("general-regime", "medium-security", "high-security")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
_MONTHS = ("January", "February", "March", "April", "June", "July", "August", "October")
_YEARS_WORDS = ("two", "three", "four", "five", "six", "seven")

_SENTENCE_TITLES = (
    "{town} {job} jailed for {years} years over {reason}",
    "Court in {town} sentences {job} to {years} years for {reason}",
    "{first} {last}, {age}, gets {years} years in penal colony for {reason}",
    "{town}: {job} {first} {last} sentenced to {years} years",
    "Belarusian {job} jailed over {reason}, Viasna says",
)
_SENTENCE_LEADS = (
    "A court in {town} has sentenced {first} {last}, a {age}-year-old {job}, to {years} years in a {regime} "
    "penal colony for {reason}, the Viasna human rights centre said on {weekday}.",
    "{first} {last}, a {job} from {town}, was sentenced on {weekday} to {years} years in a {regime} penal colony "
    "over {reason}, according to Viasna.",
    "The {town} district court on {weekday} handed {first} {last}, {age}, a {years}-year sentence in a {regime} "
    "colony for {reason}, rights defenders reported.",
)
_SENTENCE_MORE = (
    "{last} was found guilty of {charge}.",
    "{last} was detained in {month} after officers searched the family's flat and took away phones.",
    "Relatives said {last} had never taken part in politics and had a chronic illness.",
    "The trial was held behind closed doors and lasted one day.",
    "Viasna has recognised {last} as a political prisoner.",
    "The rights group counts more than 1,100 political prisoners in Belarus.",
    "Courts across the country hand down several such sentences every week, rights defenders say.",
    "A pro-government Telegram channel earlier published a video in which {last} said {pronoun} regretted it.",
    "{last} can appeal the verdict within ten days.",
    "The authorities deny holding anyone for political reasons.",
)

_ENVOY_TITLES = (
    "{official} meets US envoy Coale in {city} to discuss {topic}",
    "US envoy John Coale and {official} talk {topic} in {city}",
    "{country} says talks with Coale on {topic} were useful",
    "Coale visits {city}, discusses {topic} with {official}",
)
_ENVOY_LEADS = (
    "{official} of {country} met US special envoy for Belarus John Coale in {city} on {weekday} to discuss "
    "{topic}, {ministry} said.",
    "US envoy John Coale held talks with {official} in {city} on {weekday}, focusing on {topic}, according to a "
    "statement from {ministry}.",
)
_ENVOY_MORE = (
    "Coale has led Washington's contacts with Minsk since the summer, when the first group of political "
    "prisoners was freed.",
    "The envoy did not speak to reporters after the meeting.",
    "{official} said {country} wanted to be kept informed about any changes to sanctions on Belarus.",
    "Belarus's neighbours have watched the US contacts with Lukashenka closely.",
    "Both sides agreed to stay in contact, the statement said.",
    "The meeting lasted about two hours, {ministry} said.",
    "The United States has eased some restrictions on Belarus in return for prisoner releases.",
)
_COUNTRIES = ("Lithuania", "Latvia", "Poland", "Estonia", "Ukraine", "Germany", "France", "Sweden", "Finland",
              "Norway", "Denmark", "Czechia", "Slovakia", "Romania", "Moldova", "Austria", "Netherlands",
              "Belgium", "Italy", "Spain", "Ireland", "Canada", "Japan", "Georgia", "Armenia", "Hungary",
              "Bulgaria", "Croatia", "Slovenia", "Portugal")
_ROLES = ("foreign minister", "deputy foreign minister", "defence minister", "national security adviser",
          "prime minister", "president's chief of staff", "interior minister", "ambassador to Washington")
_TOPICS = ("border crossings", "the balloon incursions", "transit of potash", "the reopening of the US embassy",
           "migration on the border", "regional security", "the fate of political prisoners", "energy links",
           "air traffic over Belarus", "detained foreign citizens", "sanctions on the national airline",
           "trade through Baltic ports", "nuclear safety at the Astravets plant", "the war in Ukraine")
_CITIES = ("Vilnius", "Riga", "Warsaw", "Tallinn", "Kyiv", "Berlin", "Paris", "Stockholm", "Helsinki", "Oslo",
           "Copenhagen", "Prague", "Bratislava", "Bucharest", "Chisinau", "Vienna", "Brussels", "Rome", "Madrid",
           "Washington")

_STORY_TITLES = (
    "{first} {last} detained in {town} after {event}",
    "{town}: rights groups say {first} {last} held over {event}",
    "Police in {town} detain {job} {last} following {event}",
)
_STORY_LEADS = (
    "Police in {town} detained {first} {last}, a {job}, on {weekday} after {event}, relatives said.",
    "{first} {last}, who works as a {job} in {town}, was taken into custody after {event}, Viasna reported.",
    "Security officers held {job} {first} {last} in {town} on {weekday}; the detention followed {event}.",
)
_STORY_MORE = (
    "{last}'s lawyer said {pronoun} faced a charge that carries up to {years} years in prison.",
    "Colleagues of {last} in {town} started collecting money for the family.",
    "The case is the latest in a series of detentions over {event}.",
    "{last} had been questioned twice before, neighbours said.",
)
_EVENTS = ("a concert by a banned band", "a memorial gathering", "a leaflet campaign", "an online fundraiser",
           "a strike at a tractor plant", "graffiti near a railway station", "a church service for prisoners",
           "a picket outside a court")


def _surname(rng: random.Random) -> str:
    while True:  # three consonants at least, as real surnames have ("Huuk" would be a name of one letter)
        name = ("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 2))) + rng.choice(_ENDINGS)).capitalize()
        if len(name_key(name)) >= 3:
            return name


def _person(rng: random.Random) -> dict:
    first = rng.choice(_FIRST)
    return {"first": first, "last": _surname(rng), "age": rng.randint(19, 74), "job": rng.choice(_JOBS),
            "town": rng.choice(_TOWNS), "pronoun": "she" if first.endswith("a") else "he"}


def _text(rng: random.Random, lead: str, more: tuple[str, ...], values: dict, extra: int) -> str:
    sentences = [lead.format(**values)] + [s.format(**values) for s in rng.sample(more, extra)]
    return " ".join(sentences)


def _sentence_report(rng: random.Random, n: int, when: datetime) -> dict:
    values = _person(rng)
    reason, charge = rng.choice(_OFFENCES)
    values.update(years=rng.choice(_YEARS_WORDS) if rng.random() < 0.3 else rng.randint(2, 9), reason=reason,
                  charge=charge, regime=rng.choice(_REGIMES), weekday=_WEEKDAYS[when.weekday() % 5],
                  month=rng.choice(_MONTHS))
    title = rng.choice(_SENTENCE_TITLES).format(**values)
    text = _text(rng, rng.choice(_SENTENCE_LEADS), _SENTENCE_MORE, values, rng.randint(4, 7))
    return {"id": f"sentence-{n}", "title": title, "text": text, "published": when,
            "rules": ["belarus-prisoners"], "story": f"sentence-{n}"}


def _envoy_report(rng: random.Random, n: int, when: datetime) -> dict:
    country = rng.choice(_COUNTRIES)
    values = {"country": country, "official": f"{country}'s {rng.choice(_ROLES)} {_person(rng)['first']} "
                                               f"{_surname(rng)}",
              "city": rng.choice(_CITIES), "topic": rng.choice(_TOPICS), "weekday": _WEEKDAYS[when.weekday() % 5],
              "ministry": f"the {country} foreign ministry"}
    title = rng.choice(_ENVOY_TITLES).format(**values)
    text = _text(rng, rng.choice(_ENVOY_LEADS), _ENVOY_MORE, values, rng.randint(3, 6))
    return {"id": f"envoy-{n}", "title": title, "text": text, "published": when, "rules": ["coale"],
            "story": f"envoy-{n}"}


def _story_reports(rng: random.Random, n: int, when: datetime) -> list[dict]:
    """One detention reported 2-4 times within two days, each outlet with its own template."""
    values = _person(rng)
    values.update(event=rng.choice(_EVENTS), weekday=_WEEKDAYS[when.weekday() % 5], years=rng.randint(3, 8))
    out = []
    titles, leads = list(_STORY_TITLES), list(_STORY_LEADS)
    rng.shuffle(titles)
    rng.shuffle(leads)
    for k in range(rng.randint(2, 3)):
        out.append({"id": f"story-{n}-{k}", "title": titles[k].format(**values),
                    "text": _text(rng, leads[k], _STORY_MORE, values, rng.randint(2, 4)),
                    "published": when + timedelta(minutes=rng.randint(20, 48 * 60)),
                    "rules": ["belarus-prisoners"], "story": f"story-{n}"})
    return out


def corpus(seed: int = 12, sentences: int = 1000, envoy: int = 500, stories: int = 60) -> list[dict]:
    """The generated articles, oldest first."""
    rng = random.Random(seed)
    span = DAYS * 86400

    def when() -> datetime:
        return START + timedelta(seconds=rng.randrange(span))

    articles = [_sentence_report(rng, n, when()) for n in range(sentences)]
    articles += [_envoy_report(rng, n, when()) for n in range(envoy)]
    for n in range(stories):
        articles += _story_reports(rng, n, when())
    return sorted(articles, key=lambda a: (a["published"], a["id"]))


def pairwise(truth: dict[str, str], found: dict[str, object]) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 from cluster sizes (no pair lists: fine for thousands of items)."""
    def pairs(sizes) -> int:
        return sum(s * (s - 1) // 2 for s in sizes)

    def sizes(labels) -> dict:
        out: dict = {}
        for label in labels:
            out[label] = out.get(label, 0) + 1
        return out

    both = pairs(sizes((truth[k], found[k]) for k in truth).values())
    true_pairs = pairs(sizes(truth.values()).values())
    found_pairs = pairs(sizes(found.values()).values())
    precision = both / found_pairs if found_pairs else 1.0
    recall = both / true_pairs if true_pairs else 1.0
    return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0
