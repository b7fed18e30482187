"""One Latin spelling for Belarusian people's names written in Cyrillic: Russian forms are first turned into
their Belarusian forms (Александр Ковалев -> Аляксандр Кавалёў), then romanised by the Belarusian national
system (the 2007 Instruction the UN adopted) in the ASCII form Belarusian passports print (ŭ -> u, ž -> zh,
š -> sh, č -> ch, ch -> kh, c -> ts): Aliaksandr Kavaliou, Natallia Sheika, Ihar Lapatsin, Volha Ramanchuk.

Why this system: it is what Belarusians' own documents and exile media (Viasna, Nasha Niva) use, so the
spelling matches what English-language reports of the same people print. Russian surnames carry no stress
marks, so their Belarusian form is a rule-based approximation (akanne; -ович keeps its stressed о); the
people the shipped topics follow are spelled as outlets print them (`_PEOPLE`: Losik, not Lasik).
Names already in Latin are left as written. Pure: stdlib only.
"""

from __future__ import annotations

import re

from monitor.text.lexicon import CYRILLIC

# Russian given names -> their Belarusian forms (the common ones; others go through the surname rules)
_GIVEN = {
    "александр": "аляксандр", "алексей": "аляксей", "наталья": "наталля", "наталия": "наталля", "игорь": "ігар",
    "ольга": "вольга", "сергей": "сяргей", "дмитрий": "дзмітрый", "андрей": "андрэй", "владимир": "уладзімір",
    "николай": "мікалай", "виктор": "віктар", "евгений": "яўген", "павел": "павел", "максим": "максім",
    "роман": "раман", "вадим": "вадзім", "татьяна": "таццяна", "анна": "ганна", "мария": "марыя",
    "юлия": "юлія", "елена": "алена", "светлана": "святлана", "екатерина": "кацярына", "людмила": "людміла",
    "ирина": "ірына", "михаил": "міхаіл", "иван": "іван", "марина": "марына", "виктория": "вікторыя",
    "дарья": "дар'я", "полина": "паліна", "кирилл": "кірыл", "антон": "антон", "ярослав": "яраслаў",
    "виталий": "віталь", "василий": "васіль", "григорий": "рыгор", "степан": "сцяпан", "олег": "алег",
    "валентин": "валянцін", "денис": "дзяніс", "артем": "арцём", "артём": "арцём", "юрий": "юрый",
    "анатолий": "анатоль", "леонид": "леанід", "пётр": "пётр", "петр": "пётр", "мирон": "мірон",
    # Ukrainian outlets' forms of the same names
    "олександр": "аляксандр", "олексій": "аляксей", "сергій": "сяргей", "віктор": "віктар", "микола": "мікалай",
    "наталія": "наталля", "дмитро": "дзмітрый", "андрій": "андрэй", "володимир": "уладзімір", "юрій": "юрый",
    "тетяна": "таццяна", "олена": "алена", "катерина": "кацярына",
}
_BELARUSIAN_GIVEN = frozenset(_GIVEN.values())
# Given names whose English-language spelling in coverage is not the system's: Reuters, AP and RFE/RL write
# "Maria Kalesnikava", "Veronika Tsepkalo" (the system: Maryia, Veranika); Poczobut is written the Polish way.
_GIVEN_LATIN = {"мария": "Maria", "марыя": "Maria", "марія": "Maria", "анджей": "Andrzej", "анджэй": "Andrzej",
                "вероника": "Veronika", "вераніка": "Veronika", "ігор": "Ihar"}  # Ukrainian outlets: Ігор Лосик
# Surnames of people the shipped topics follow whose stressed vowel the rules cannot know (Лосик is Лосік,
# not Ласік) or whose outlets' spelling is not the system's: as wire agencies, RFE/RL and Viasna print them.
# Keys are the nominative in Russian, Belarusian and Ukrainian spelling.
_PEOPLE = {
    "лосик": "Losik", "лосік": "Losik",
    "беляцкий": "Bialiatski", "бяляцкі": "Bialiatski", "бяляцкий": "Bialiatski", "біляцький": "Bialiatski",
    "беляцький": "Bialiatski",
    "почобут": "Poczobut", "пачобут": "Poczobut",
    "дедок": "Dziadok", "дзядок": "Dziadok", "дєдок": "Dziadok",
    "северинец": "Seviarynets", "севярынец": "Seviarynets", "северинець": "Seviarynets",
    "лойко": "Loika", "лойка": "Loika",
    "рабкова": "Rabkova",
    "стефанович": "Stefanovich", "стэфановіч": "Stefanovich",
    "зенкович": "Ziankovich", "зянковіч": "Ziankovich",
    "щирякова": "Shchyrakova", "шчыракова": "Shchyrakova",
    "цепкало": "Tsepkalo", "цапкала": "Tsepkalo",
    "ивашин": "Ivashin", "івашын": "Ivashin",
}
_LATIN = {
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "ж": "zh", "з": "z", "і": "i", "й": "i",
    "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
    "ў": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "ы": "y", "ь": "", "э": "e", "'": "",
    "’": "", "ʼ": "",
}
_IOTATED = {"е": "e", "ё": "o", "ю": "u", "я": "a"}  # io/iu/ia (but e) after a consonant, ye/yo/yu/ya elsewhere
_VOWELS = set("аеёіоуыэюяи")
_HARD = set("жшчр")  # Belarusian writes э, ы after these, never е, і
_SOFTENED = {"т": "ц", "д": "дз"}  # before е, ё, і, ю, я, ь (цеканне, дзеканне)


def belarusian_form(word: str) -> str:
    """The Belarusian spelling of a (lower-case) Russian name; Belarusian input comes back unchanged."""
    if word in _GIVEN:
        return _GIVEN[word]
    if word in _BELARUSIAN_GIVEN or any(ch in word for ch in "іўэ"):  # already Belarusian
        return word
    w = word.replace("ьо", "ё").replace("щ", "шч").replace("ъ", "'").replace("и", "і")  # Ukrainian Ковальов
    w = re.sub(r"([лчшжщ])ев$", r"\1ёў", w)
    w = re.sub(r"ёв$", "ёў", w)
    w = re.sub(r"ев$", "еў", w)
    w = re.sub(r"ов$", "оў", w)
    w = re.sub(r"([аеёоуыэюяі])в(?=[бвгджзклмнпрстфхцчшщ])", r"\1ў", w)  # Тихановский -> Ціханоўскі
    w = re.sub(r"ович$", "овіч", w)
    w = re.sub(r"([кгх])ій$", r"\1і", w)
    out = []
    for i, ch in enumerate(w):
        nxt = w[i + 1] if i + 1 < len(w) else ""
        prev = out[-1][-1] if out else ""
        if ch in _SOFTENED and nxt in "еёіюяь":
            ch = _SOFTENED[ch]
        elif ch == "о" and nxt != "ў" and not (i == len(w) - 4 and w.endswith("овіч")):
            ch = "а"  # akanne: an unstressed о is written а (the stress is unknown; most о are unstressed)
        elif prev in _HARD and ch == "е":
            ch = "э"
        elif prev in _HARD and ch == "і":
            ch = "ы"
        out.append(ch)
    return "".join(out)


def romanise(word: str) -> str:
    """Belarusian Cyrillic -> Latin, national system in its passport (ASCII) form; a final -ый is -y as
    passports and outlets print it (Dzmitry, Yury)."""
    if word.endswith("ый"):
        return romanise(word[:-1])
    out = []
    for i, ch in enumerate(word):
        prev = word[i - 1] if i else ""
        if ch in _IOTATED:
            after_consonant = prev and (prev not in _VOWELS or prev in "іы") and prev not in "ь'’ʼ"
            if prev == "ь" or (prev and prev in "'’ʼ"):
                out.append("y" + _IOTATED[ch])
            elif after_consonant:
                out.append("e" if ch == "е" else "i" + _IOTATED[ch])  # passports: Siarhei, Ales, not Siarhiei
            else:
                out.append("y" + _IOTATED[ch])
        else:
            out.append(_LATIN.get(ch, ch))
    return "".join(out)


def nominative(name: str) -> str:
    """A Russian or Ukrainian "Given Surname" in the accusative back in the nominative, when its given name is a
    known one: Александра Ковалева -> Александр Ковалев, Сергея Тихановского -> Сергей Тихановский, Марию
    Колесникову -> Мария Колесникова; anything else comes back as written."""
    words = name.split()
    if len(words) != 2:
        return name
    given, surname = words[0].lower(), words[1]
    for ending, base, surname_endings in _ACCUSATIVE:
        if given.endswith(ending) and given[:-len(ending)] + base in _GIVEN:
            for old, new in surname_endings:
                if surname.lower().endswith(old):
                    return f"{words[0][:-len(ending)]}{base} {surname[:-len(old)]}{new}"
            return f"{words[0][:-len(ending)]}{base} {surname}"
    return name


# a man's surname in the accusative: -ого/-ього adjectives, else a final -а dropped (Лосика, Ковалева, Статкевича)
_MALE = (("ского", "ский"), ("ського", "ський"), ("ьова", "ьов"), ("а", ""))
# a woman's surname in the accusative (Колесникову, Тихановскую); others do not decline (Шейко, Романчук)
_FEMALE = (("скую", "ская"), ("ову", "ова"), ("еву", "ева"), ("ину", "ина"))
# (given name's accusative ending, its nominative ending, the surname's (accusative, nominative) endings)
_ACCUSATIVE = (
    ("ию", "ия", _FEMALE),  # Марию Колесникову
    ("ью", "ья", _FEMALE),  # Наталью Шейко
    ("у", "а", _FEMALE),  # Ольгу Романчук
    ("ія", "ій", _MALE),  # Сергія
    ("я", "й", _MALE), ("я", "ь", _MALE),  # Николая, Игоря
    ("а", "", _MALE),  # Александра Ковалева, Олександра Ковальова, Виктора Бабарико (indeclinable)
)


_CYRILLIC_WORD = re.compile(f"[{CYRILLIC}ʼ'’]+")


def latin_name(name: str) -> str:
    """A person's name in the one Latin spelling: "Александр Ковалев" -> "Aliaksandr Kavaliou"; a name
    already in Latin letters is returned as written."""
    def one(match: re.Match[str]) -> str:
        word = match.group().lower()
        if word in _PEOPLE or word in _GIVEN_LATIN:
            return _PEOPLE.get(word) or _GIVEN_LATIN[word]
        latin = romanise(belarusian_form(word))
        return latin[:1].upper() + latin[1:]
    return _CYRILLIC_WORD.sub(one, name)
