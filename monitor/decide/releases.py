"""Is this a new release? Whether an article reports a NEW release of political prisoners from Belarus, and
its facts (headline number, people, date, destination, broker), from English and Russian reports.

Pure: text in, facts out. A release is a release cue (freed, pardoned, handed over, помиловал, освободили)
in the headline, or in the lead when the headline reports nothing else, that is not a call, a plan, or
background ("weeks after the release"), in a Belarus context, and not a prisoner-of-war exchange.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from monitor.decide.merge import COUNTRY_OF, ReleaseFacts, destination_country, merge_facts, merged_facts
from monitor.text.latin import latin_name, nominative
from monitor.text.lexicon import cyrillic_count, name_key, place
from monitor.text.numbers import numbers
from monitor.text.sentences import clean_text, sentences, split_lead
from monitor.text.tokens import fold

# the merging of a story's facts lives in monitor/decide/merge.py (read without these patterns); named here too
__all__ = ["ReleaseFacts", "destination_country", "merge_facts", "merged_facts", "release_facts"]

_I = re.IGNORECASE


def _starting(first: str, pattern: str) -> re.Pattern[str]:
    """`pattern` (case-insensitive) behind a lookahead for `first`, the letters its alternatives start with: it
    matches exactly what `pattern` matches (under IGNORECASE the class holds what each of those first letters
    matches), and the engine tries the alternatives only where one of the letters stands, not at every
    character (these scans were most of an article's release facts; tests/test_same_release_facts.py)."""
    return re.compile(f"(?=[{first}]){pattern}", _I)


_BELARUS = re.compile(r"belarus|byelorus|lukash[eé]nk|minsk|беларус|белорус|білорус|лукашенк|лукашэнк|минск|мінськ"
                      r"|мінск|менск", _I)
_POW = re.compile(r"prisoners? of war|\bpows?\b|prisoner (exchange|swap)|exchange of prisoners|\bswap(s|ped)?\b"
                  r"|военнопленн|пленными|обмен\w* пленн|абмен", _I)
_OTHER_COUNTRIES = re.compile(r"nicaragu|venezuel|azerbaij|\biran|\bcuba|egypt|myanmar|никарагу|венесуэл|азербайдж"
                              r"|иран|куб[аеуы]\b", _I)
_OPINION = re.compile(r"^\W*(opinion|comment|editorial|analysis|view|мнение|колонка|комментарий)\b|^\W*free\b", _I)
_CUE = re.compile(
    r"\b(free[sd]|freeing|set free|walk(?:s|ed)? free|(?:is|are|now) free|releas(?:e|es|ed|ing)|pardon(?:s|ed|ing)?"
    r"|lets? (?:\w+[\s-]){0,2}go|let go|hand(?:s|ed)? over|deport(?:s|ed)?|expel(?:s|led)?"
    r"|освобод\w*|освобожд\w*|помилова\w*|вышл\w* на свободу|вышел на свободу|выпусти\w*|переда(?:ли|л|ны)"
    r"|вызвал\w*|вызвален\w*|памілава\w*|звільни\w*|звільнен\w*|помилува\w*|відпусти\w*)\b", _I)
_BACKGROUND_BEFORE = re.compile(
    r"\b(after|since|following|before|despite|amid|earlier|previous|последн\w*|после|до|ранее|предыдущ\w*)\W+"
    r"(?:\w+\W+){0,4}$", _I)
_NOT_DONE_BEFORE = re.compile(
    r"\bto\W+$"  # "to free" is a plan; "residence to 16 Belarusians freed" is not
    r"|\b(could|may|might|will|would|should|must|ready|plans?|offers?|refus\w*|wants?|call\w*|urg\w*|demand\w*"
    r"|appeal\w*|push\w*|seek\w*|может|могут|готов\w*|намерен\w*|планиру\w*|отказ\w*|призва\w*|призыва\w*"
    r"|требу\w*|потребова\w*)\W+(?:\w+\W+){0,3}$", _I)
_OBJECT = re.compile(r"prisoner|detainee|dissident|activist|opposition|politzek|people|person|journalist|blogger"
                     r"|laureate|nobel|winner|founder|politician|leader|citizen|national|foreigner|политзаключ|заключ|человек|осужд|узник|иностран"
                     r"|палітвязн|вязн|чалавек|асуджан|актывіст|журналіст|політв.язн|ув.язнен|осіб|людей"
                     r"|активист|журналист|\d|(?-i:[A-ZА-ЯЁІЎЄЇҐ][\w'’]+ [A-ZА-ЯЁІЎЄЇҐ][\w'’]+)", _I)
_OTHER_EVENT = re.compile(r"\b(detain\w*|arrest\w*|sentenc\w*|jails?\b|convict\w*|court|trial|charged|exercise|drills?"
                          r"|задерж\w*|арест\w*|приговор\w*|осудил\w*|суд\b|учени\w*)", _I)
_SUBSET_AFTER = re.compile(r"\W*(of\b|foreign|nationals|women|иностран|из них|женщин)", _I)


def _valid_cue(sentence: str) -> re.Match[str] | None:
    """The first release cue of `sentence` that is neither background nor a call or plan."""
    for match in _CUE.finditer(sentence):
        before = sentence[max(0, match.start() - 80):match.start()]
        if _BACKGROUND_BEFORE.search(before) or _NOT_DONE_BEFORE.search(before):
            continue
        if _OBJECT.search(sentence):
            return match
    return None


def release_facts(title: str, text: str, language: str | None = None,
                  published: datetime | None = None) -> ReleaseFacts | None:
    """The facts of a NEW release of political prisoners from Belarus reported by this article, else None."""
    text = clean_text(text)
    lead, rest = split_lead(text)
    head = f"{title}\n{lead}"
    if not _BELARUS.search(head) or _POW.search(head) or _OPINION.search(title):
        return None
    if _OTHER_COUNTRIES.search(title) and not _BELARUS.search(title):
        return None
    lead_sentences = sentences(lead)
    if _valid_cue(title):
        cue_sentences = [title] + [s for s in lead_sentences if _valid_cue(s)]
    elif _OTHER_EVENT.search(title) or _CUE.search(title):
        return None  # the headline reports a detention, a sentence, drills, or a release as background
    else:
        cue_sentences = [s for s in lead_sentences if _valid_cue(s)]
        if not cue_sentences:
            return None
    if language is None:
        language = "ru" if cyrillic_count(head) * 3 > len(head) else "en"
    every_sentence = sentences(text)
    story_sentences = [s for s in every_sentence if not _BACKGROUND.search(s)]
    return ReleaseFacts(
        number=_headline_number(cue_sentences, lead_sentences),
        names=tuple(dict.fromkeys(latin_name(_object_form(n, text)) for n in _names(title, story_sentences)
                                or _speakers(every_sentence))),
        date=_date(cue_sentences + lead_sentences, published),
        destination=_destination([title, *story_sentences]),
        broker=_broker(text),
        language=language,
    )


# A release verb right before a name: the name is its object, so in the accusative («освободили Александра
# Ковалева», «помиловал Марию Колесникову»)
_OBJECT_OF_RELEASE = re.compile(r"(?:освободил\w*|помиловал\w*|отпустил\w*|вывезли|передали|звільнил\w*|помилував"
                                r"|відпустил\w*|вызвалі\w*|памілаваў|памілавалі)\s+$", _I)


def _object_form(name: str, text: str) -> str:
    """`name` in the nominative when the text writes it only as the object of a release verb."""
    at = text.find(name)
    return nominative(name) if at > 0 and _OBJECT_OF_RELEASE.search(text, max(0, at - 40), at) else name


def _headline_number(cue_sentences: list[str], lead_sentences: list[str]) -> int | None:
    for sentence in cue_sentences + lead_sentences:
        for value, _start, end in numbers(sentence):
            if _SUBSET_AFTER.match(sentence, end):
                continue  # "one of 123", "14 foreign nationals": a part, not the count
            return value
    return None


# -- names ----------------------------------------------------------------------------------------------

_BACKGROUND = _starting("seplaiрпв", r"\b(since|earlier|previous|last (year|month)|ago|in (january|february|march|"
                        r"april|may|june|july|august|september|october|november)|ранее|предыдущ\w*|в прошлом|в (январе|"
                        r"феврале|марте|апреле|мае|июне|июле|августе|сентябре|октябре|ноябре))\b")
_HEDGE = _starting("uwndcнл", r"\b(unclear|whether|not|no|never|demand\w*|call\w*|urg\w*|неясно|ли|не)\b")
# a capital not after a letter, digit or apostrophe (the lookbehind after the capital: the engine skips to capitals)
_NAME_RUN = re.compile(r"[A-ZА-ЯЁІЎЄЇҐ](?<![\w'’].)[\w'’-]+(?:\s+[A-ZА-ЯЁІЎЄЇҐ][\w'’-]+){0,2}")
_LIST_TRIGGER = _starting("iastвсуз", r"\b(including|among them"
                           r"|among those (?:freed|released|pardoned) (?:was|were)|such as"
                           r"|(?:the|those) (?:freed|released|pardoned)(?: prisoners| people)? includ(?:e|es|ed)"
                           r"|the (?:group|freed group|released group) includ(?:e|es|ed)"
                           r"|в том числе|среди них|среди освобожд\w*|среди помилованн\w*"
                           r"|у тым ліку|сярод іх|сярод вызвален\w*|сярод памілаван\w*|серед них|серед звільнен\w*"
                           r"|зокрема)(?!\w)")
_AFTER_NAME = re.compile(r"(?:,[^.,]{1,110},)?\s+(?:was|were|is|has been)?\s*(?:among|walked free|walks free|freed|"
                         r"released|pardoned|освобожден\w*|вышл?а? на свободу|помилован\w*)", _I)
# "freed Ihar Lapatsin and 39 other prisoners"; "Also freed was the Brest lawyer Volha Ramanchuk"
# ("освободили Александра Ковалева и еще 13": with ещё no 'other' is needed)
_AND_OTHERS = re.compile(r"\s+(?:and|along with|together with|и|і|та)\s+(?:(?:ещ[её]|яшчэ|ще)\s+(?:\d+|[^\W\d]+)(?!\w)"
                         r"|(?:\d+|[^\W\d]+)\s+(?:other|others|more|друг\w*|інш\w*)(?!\w))", _I)
# what every match of _ALSO_FREED holds: a sentence without it is not searched before each of its names
_ALSO_FREED_ANYWHERE = re.compile(r"\b(?:also|as well)\s+(?:freed|released|pardoned)\s+(?:was|were)\s", _I)
_ALSO_FREED = re.compile(r"\b(?:also|as well)\s+(?:freed|released|pardoned)\s+(?:was|were)\s+(?:the\s+)?"
                         r"(?:[\w'’-]+\s+){0,3}$", _I)
_LIST_END = re.compile(r"[.;]|\s(?:after|following|when|according|после)\s", _I)
_LIST_SPLIT = re.compile(r",|\s(?:and|и|і|та)\s|\s[—–]\s")
_CLAUSE_START = re.compile(r"^\W*(?:who|whom|whose|which|that|where|jailed|sentenced|convicted|serving|held|arrested"
                           r"|котор\w*|где|приговорённ\w*|приговоренн\w*|осуждённ\w*|осужденн\w*|отбывавш\w*"
                           r"|які|якая|якія|асуджан\w*|засуджен\w*)(?!\w)", _I)


def _list_people(segment: str) -> list[str]:
    """People of a list ("the trade unionist A B, who ..., and the blogger C D"): each item's name comes within its
    first few words; relative clauses and appositions are skipped."""
    out = []
    for item in _LIST_SPLIT.split(segment):
        if _CLAUSE_START.match(item):
            continue
        run = _NAME_RUN.search(item)
        if run and len(item[:run.start()].split()) <= 4:
            out += [n for n in _people(run.group()) if len(n.split()) >= 2]
    return out
_NOT_PEOPLE_WORDS = (
    "Nobel Peace Prize President Embassy Union United States State Department Viasna Вясна Belarusian Belarusians "
    "Lithuanians Poles French British American Americans Ukrainian Нобелевской премии Lukashenko Lukashenka "
    "Лукашенко Trump Трамп Among Including The Среди Власти Беларуси Envoy Special")
_NOT_PEOPLE = frozenset(fold(w) for w in _NOT_PEOPLE_WORDS.split())
_TITLE_PASSIVE = re.compile(r"^\W*(?:[\w'’-]+\s+){0,3}?((?:[A-ZА-ЯЁІЎЄЇҐ][\w'’-]+(?:,?\s+|\s+(?:and|и)\s+)){1,4})"
                            r"(?i:among|freed|released|walks free|walked free|is free|освобожд\w*|на свободе)")


def _people(segment: str) -> list[str]:
    out = []
    for match in _NAME_RUN.finditer(segment):
        words = [w for w in match.group().split() if fold(w) not in _NOT_PEOPLE and not place(fold(w))]
        if words:
            out.append(" ".join(words))
    return out


def _names(title: str, sentences: list[str]) -> tuple[str, ...]:
    found: list[str] = []
    for sentence in sentences:
        if _HEDGE.search(sentence):
            continue  # "it is unclear whether ... such as X": not a report that X was freed
        for trigger in _LIST_TRIGGER.finditer(sentence):
            segment = sentence[trigger.end():]
            end = _LIST_END.search(segment)
            found += _list_people(segment[:end.start()] if end else segment)
        also = _ALSO_FREED_ANYWHERE.search(sentence) is not None
        for run in _NAME_RUN.finditer(sentence):
            if _AFTER_NAME.match(sentence, run.end()) or _AND_OTHERS.match(sentence, run.end()) \
                    or (also and _ALSO_FREED.search(sentence, max(0, run.start() - 80), run.start())):
                found += [n for n in _people(run.group()) if len(n.split()) >= 2]
    surnames: list[str] = []
    if (m := _TITLE_PASSIVE.search(title)) or (m := re.search(r"(?:including|среди них)\s+(.+)$", title, _I)):
        surnames = _people(re.sub(r"\b(and|и)\b", ",", m.group(1)).replace(",", " , "))
    trigger = _LIST_TRIGGER.search(title)
    if trigger:
        surnames += _people(title[trigger.end():].replace(" and ", " , ").replace(" и ", " , "))
    # a surname of the headline stands for the full name the text gives
    in_text: list[tuple[str, str]] | None = None  # (the last word's key, name) of the text's full names, read once
    for surname in surnames:
        for part in surname.split():
            key = name_key(part)
            if not key or any(name_key(n).split()[-1:] == [key] for n in found):
                continue
            if in_text is None:
                in_text = [(name_key(n).split()[-1], n) for n in _people(" ".join(sentences)) if len(n.split()) >= 2]
            fuller = [n for last, n in in_text if last == key]
            found.append(fuller[0] if fuller else part)
    unique: dict[str, str] = {}
    for name in found:
        unique.setdefault(name_key(name).split()[-1], name)
    return tuple(unique.values())


_FREED_SPOKE = _starting("smtfao", r"\b(?:(?:several|some|many|two|three|four|a few|one|most) of )?"
                          r"the (?:former|freed|released)"
                          r" (?:political )?prisoners (?:spoke|talked|told|described)\b")
_SPEAKER = re.compile(r"([A-ZА-ЯЁІЎЄЇҐ][\w'’-]+\s+[A-ZА-ЯЁІЎЄЇҐ][\w'’-]+)(?:,[^,.]{1,80},)?\s+"
                      r"(?:said|told|recalled|described)\b")


def _speakers(sentences: list[str]) -> tuple[str, ...]:
    """When no sentence names the freed, the people quoted right after "several of the former prisoners spoke
    to reporters": each of the next few sentences that opens with a full name who said something."""
    found: dict[str, str] = {}
    for i, sentence in enumerate(sentences):
        if not _FREED_SPOKE.search(sentence):
            continue
        for following in sentences[i + 1:i + 5]:
            if (m := _SPEAKER.match(following)) and (people := _people(m.group(1))) and len(people[0].split()) >= 2:
                found.setdefault(name_key(people[0]).split()[-1], people[0])
    return tuple(found.values())


# -- date, destination, broker ---------------------------------------------------------------------------

_WEEKDAYS = {**{d: i for i, d in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                              "sunday"))},
             **{d: i for i, d in enumerate(("понедельник", "вторник", "среду", "четверг", "пятницу", "субботу",
                                              "воскресенье"))}}
_MONTHS = {m: i + 1 for i, m in enumerate(("january", "february", "march", "april", "may", "june", "july",
                                            "august", "september", "october", "november", "december"))}
_MONTHS.update({m: i + 1 for i, m in enumerate(("января", "февраля", "марта", "апреля", "мая", "июня", "июля",
                                                 "августа", "сентября", "октября", "ноября", "декабря"))})
_WEEKDAY = re.compile(r"\b(?:on|в|во)\s+(" + "|".join(_WEEKDAYS) + r")\b", _I)
_MONTH_NAMES = "|".join(_MONTHS)
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})\s+({_MONTH_NAMES})\b|\b({_MONTH_NAMES})\s+(\d{{1,2}})\b", _I)
_RELATIVE = re.compile(r"\b(today|yesterday|сегодня|вчера)\b", _I)


def _date(sentences: list[str], published: datetime | None) -> date | None:
    day = published.date() if published else None
    for sentence in sentences:
        if (m := _DAY_MONTH.search(sentence)) and day:
            d, month = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
            try:
                found = date(day.year, _MONTHS[m.group(2 if m.group(1) else 3).lower()], int(d))
            except ValueError:
                continue
            return found if found <= day else found.replace(year=day.year - 1)
        if (m := _WEEKDAY.search(sentence)) and day:
            return day - timedelta(days=(day.weekday() - _WEEKDAYS[m.group(1).lower()]) % 7)
        if (m := _RELATIVE.search(sentence)) and day:
            return day - timedelta(days=1) if fold(m.group(1)) in ("yesterday", "вчера") else day
    return day


_DESTINATIONS = {"lithuania": "Lithuania", "vilnius": "Vilnius", "ukraine": "Ukraine", "kyiv": "Kyiv",
                 "poland": "Poland", "warsaw": "Warsaw", "latvia": "Latvia", "united states": "United States"}
# border crossings name their country: a group handed over "at Medininkai" went to Lithuania
_CROSSINGS = {"medininkai": "Lithuania", "мядининка": "Lithuania", "медининка": "Lithuania", "terespol": "Poland",
              "тересполь": "Poland", "kukuryki": "Poland", "кукурыки": "Poland"}
_MOVE = _starting("tdbfsehcaвдпо", r"\b(taken|driven|transported|brought|bused|bussed|flown|sen[dt]s?|deported|"
                   r"expelled|"
                   r"hand(?:s|ed)?(?: (?:them|him|her|the group|the prisoners))? over|handover|"
                   r"transferred|cross(?:ed|es)?|arrived|arrive|delivered|вывез\w*|доставил\w*|"
                   r"переда\w*|перада\w*|депортир\w*|выслал\w*|прибыл\w*|отправил\w*|выдворил\w*|вывез\w*"
                   r"|вивез\w*|передал\w*)(?!\w)")
_WORDS = re.compile(r"[^\W\d_]+")
_PREPOSITIONS = {"to", "into", "in", "at", "across", "for", "via", "through"}
_ADJECTIVE = re.compile(r"(?:ian|ish|ск(?:им|ой|ие|их|ий|ая|ую|ого|ими|ом))$", _I)  # "Ukrainian officials"


def _where(word: str) -> str | None:
    folded = fold(word).replace("ё", "е").replace("і", "и")  # Belarusian and Ukrainian Літву, Литві
    crossing = next((c for p, c in _CROSSINGS.items() if folded.startswith(p)), None)
    return crossing or _DESTINATIONS.get(place(folded) or "")


def _destination(sentences: list[str]) -> str | None:
    """Where the group was taken: the first place named after a move ("handed over to", "вывезли в"). A city or
    "X border" gives way to its country when a move also names that country itself ("handed over to Poland") or
    one of its crossings ("at Terespol"); "Ukrainian officials at the border" alone leaves "Ukraine border"."""
    found: list[tuple[str, bool]] = []  # (place, named as a country or crossing rather than an adjective)
    for sentence in sentences:
        for move in _MOVE.finditer(sentence):
            words = _WORDS.findall(sentence[move.end():move.end() + 160])[:8]
            for i, word in enumerate(words):
                where = _where(word)
                latin = word.isascii()
                if where and (not latin or any(w.lower() in _PREPOSITIONS for w in words[max(0, i - 2):i])):
                    near = [fold(w) for w in words[i + 1:i + 4]]
                    border = any(w.startswith(("border", "границ")) for w in near)
                    if border and not fold(word).startswith(tuple(_CROSSINGS)):
                        where = f"{where} border"
                    found.append((where, not _ADJECTIVE.search(word)))
                    break
    if not found:
        return None
    first = found[0][0]
    country = COUNTRY_OF.get(first)
    return country if country and (country, True) in found else first


_BROKER_AFTER = _starting("eсbmnlп", r"\b(?:envoy|спецпосланник\w*|посланник\w*|пасланнік\w*|спецпасланнік\w*|"
                           r"посланц\w*|"
                           r"спецпосланц\w*|brokered by|mediated by|negotiated by|led by|"
                           r"при посредничестве)\s+((?:\S+\s+){0,4}\S+)")
_BROKER_BEFORE = re.compile(r"([A-ZА-ЯЁІЎЄЇҐ][\w'’-]+\s+[A-ZА-ЯЁІЎЄЇҐ][\w'’-]+),[^.,]{0,60}\b(?i:envoy|посланник)")
_BROKER_COUNTRY = _starting("bmdatпс", r"\b(?:brokered by|mediated by|deal with|agreement with|talks with|"
                             r"при посредничестве|"
                             r"соглашени\w* с|сделк\w* с)\s+(?:the\s+)?(United States|Washington|US|США|Вашингтон\w*)")


# Brokers by name key, as reports in any script and case name them ("Джоном Коулом", "Джонам Коўлам")
_KNOWN_BROKERS = {"dzn kl": "John Coale", "kt klg": "Keith Kellogg", "dnld trmp": "Donald Trump",
                  "kristfr lnd": "Christopher Landau"}
# case endings of Russian, Belarusian and Ukrainian names (instrumental first: "Коулом", "Коўлам")
_NAME_ENDINGS = ("ом", "ам", "ым", "ем", "ой", "ою", "аю", "ові", "у", "а", "е", "і")


# The known envoy's full name in any script and case, wherever the text names him ("talks with Джоном Коулом")
_KNOWN_BROKER_ANYWHERE = _starting("jд", r"\b(?:John|Джон\w{0,2}|Джан\w{0,2})\s+"
                                   r"(?:Coale|Cole|Kohl|Коул\w{0,2}|Коал\w{0,2}|Коўл\w{0,2})\b")


def _person_name(name: str) -> str:
    """A broker's name in its one spelling: a known envoy from any inflected form, else the Latin name."""
    words = [w for w in name.split() if not w.isupper()] or name.split()  # not "ЗША", "US"
    name = " ".join(words)
    for cut in (0, *range(len(_NAME_ENDINGS))):
        stems = [w[:-len(_NAME_ENDINGS[cut - 1])] if cut and w.lower().endswith(_NAME_ENDINGS[cut - 1])
                 and len(w) > 4 else w for w in words] if cut else words
        if (known := _KNOWN_BROKERS.get(name_key(" ".join(stems)))) is not None:
            return known
    return latin_name(name)


def _broker(text: str) -> str | None:
    for m in _BROKER_AFTER.finditer(text):
        people = [n for n in _people(m.group(1)) if len(n.split()) >= 2]
        if people:
            return _person_name(people[0])
    for m in _BROKER_BEFORE.finditer(text):
        people = _people(m.group(1))
        if people and len(people[0].split()) >= 2:
            return _person_name(people[0])
    if (m := _KNOWN_BROKER_ANYWHERE.search(text)) is not None:
        return _person_name(m.group())  # "после встречи с Джоном Коулом": the envoy named without his post
    if _BROKER_COUNTRY.search(text):
        return "United States"
    return None
