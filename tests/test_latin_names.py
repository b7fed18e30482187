"""Names of the people the shipped topics follow, written in Russian, Belarusian or Ukrainian, come out in the
Latin spelling real outlets print (wire agencies, RFE/RL, Viasna): Ihar Losik, not "Ihar Lasik". The sentences
are our own, modelled on how release reports in each language list the freed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.decide.releases import merge_facts, release_facts
from monitor.text.latin import latin_name

OUTLETS = {  # Cyrillic spellings -> the spelling English-language coverage uses
    "Ihar Losik": ["Игорь Лосик", "Ігар Лосік", "Ігор Лосик"],
    "Ales Bialiatski": ["Алесь Беляцкий", "Алесь Бяляцкі", "Алесь Біляцький"],
    "Maria Kalesnikava": ["Мария Колесникова", "Марыя Калеснікава", "Марія Колесникова"],
    "Siarhei Tsikhanouski": ["Сергей Тихановский", "Сяргей Ціханоўскі"],
    "Sviatlana Tsikhanouskaya": ["Светлана Тихановская", "Святлана Ціханоўская"],
    "Viktar Babaryka": ["Виктор Бабарико", "Віктар Бабарыка"],
    "Mikalai Statkevich": ["Николай Статкевич"],
    "Pavel Seviarynets": ["Павел Северинец", "Павел Севярынец"],
    "Mikalai Dziadok": ["Николай Дедок", "Мікалай Дзядок"],
    "Valiantsin Stefanovich": ["Валентин Стефанович", "Валянцін Стэфановіч"],
    "Uladzimir Labkovich": ["Владимир Лабкович", "Уладзімір Лабковіч"],
    "Marfa Rabkova": ["Марфа Рабкова"],
    "Maksim Znak": ["Максим Знак", "Максім Знак"],
    "Ihar Karnei": ["Игорь Карней", "Ігар Карней"],
    "Andrzej Poczobut": ["Анджей Почобут", "Анджэй Пачобут"],
    "Larysa Shchyrakova": ["Лариса Щирякова", "Ларыса Шчыракова"],
    "Iryna Slaunikava": ["Ирина Славникова", "Ірына Слаўнікава"],
    "Yury Ziankovich": ["Юрий Зенкович"],
    "Dzmitry Bandarenka": ["Дмитрий Бондаренко"],
    "Mikalai Autukhovich": ["Николай Автухович"],
    "Veronika Tsepkalo": ["Вероника Цепкало"],
    "Aliaksandr Lukashenka": ["Александр Лукашенко", "Аляксандр Лукашэнка"],
}


@pytest.mark.parametrize(("written", "latin"), [(w, latin) for latin, ws in OUTLETS.items() for w in ws])
def test_cyrillic_names_come_out_as_outlets_spell_them(written, latin):
    assert latin_name(written) == latin


@pytest.mark.parametrize("latin", list(OUTLETS))
def test_outlets_spellings_are_left_as_written(latin):
    assert latin_name(latin) == latin


def test_the_rules_still_apply_to_people_outside_the_table():
    # the stressed о of -ович stays, other unstressed о become а; a final -ый is -y
    assert latin_name("Максим Богданович") == "Maksim Bahdanovich"
    assert latin_name("Олег Груздилович") == "Aleh Hruzdzilovich"
    assert latin_name("Дмитрий Фурманов") == "Dzmitry Furmanou"
    assert latin_name("Юрий Рубцов") == "Yury Rubtsou"


def test_a_russian_and_an_english_report_of_one_release_name_each_person_once_as_outlets_do():
    when = datetime(2025, 9, 12, 9, tzinfo=UTC)
    russian = release_facts(
        "В Беларуси помиловали 52 заключенных",
        "Власти Беларуси освободили 52 заключенных после визита американской делегации в Минск. "
        "Среди освобожденных — блогер Игорь Лосик и политик Николай Статкевич. "
        "Их доставили к границе с Литвой.", "ru", when)
    english = release_facts(
        "Belarus frees 52 prisoners after US visit",
        "Belarus released 52 prisoners on Thursday after a visit by a US delegation to Minsk. "
        "Among those freed were the blogger Ihar Losik and the politician Mikalai Statkevich. "
        "They were driven to the border with Lithuania.", "en", when)
    assert russian is not None and english is not None
    assert set(russian.names) == {"Ihar Losik", "Mikalai Statkevich"}
    merged = merge_facts([russian, english])
    assert merged is not None and sorted(merged.names) == ["Ihar Losik", "Mikalai Statkevich"]
