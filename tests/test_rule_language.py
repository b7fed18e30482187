"""The rule language: folding and tokenising, parser and errors, printer, evaluation with evidence,
explanations, the list compiler, RuleSet, the examples of rules/README.md, and property tests."""

from __future__ import annotations

import contextlib
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import RuleError
from monitor.rules.evaluate import evaluate, explain, failures
from monitor.rules.matching import in_title_and_text, index_article
from monitor.rules.query import (
    Alias,
    And,
    Except,
    Field,
    Near,
    Not,
    Or,
    Phrase,
    Prefix,
    Sentences,
    Term,
    compile_lists,
    is_positional,
    parse,
    terms,
    to_string,
)
from monitor.rules.ruleset import RuleSet
from monitor.text.tokens import TextIndex, fold, tokenize
from tests.helpers import ROOT, has_field

ALIASES = {"lukashenko": ["Lukashenko", "Lukashenka", "Лукашенко*", "Лукашэнка", '"Alexander Lukashenko"']}


def matches(query: str, text: str = "", title: str = "") -> bool:
    return evaluate(parse(query, ALIASES), index_article(title, text)).matched


# ------------------------------------------------------------------------------------- text

@pytest.mark.parametrize(("raw", "folded"), [
    ("Minsk", "minsk"), ("МИНСК", "минск"), ("Białiatski", "bialiatski"), ("Müller", "muller"),
    ("Straße", "strasse"), ("ﬁnance", "finance"), ("Ёлка", "елка"), ("Йошкар", "йошкар"),
    ("Лукашэнка", "лукашэнка"), ("Ўлада", "ўлада"), ("Æther", "aether"), ("ＡＢＣ１２", "abc12"),
    ("e\u0301te\u0301", "ete"),
])
def test_fold(raw, folded):
    assert fold(raw) == folded


@pytest.mark.parametrize(("text", "tokens"), [
    ("Zapad-2025: drills", ["zapad", "2025", "drills"]),
    ("O'Brien's snake_case", ["o", "brien", "s", "snake", "case"]),
    ("«Лукашенко» — заявил…", ["лукашенко", "заявил"]),
    ("cafe\u0301 ok", ["cafe", "ok"]),
    ("  ", []),
])
def test_tokenize(text, tokens):
    assert [t for t, _, _ in tokenize(text)] == tokens


def test_tokenize_offsets_point_into_the_original():
    text = "Ales Białiatski (Алесь Бяляцкі) — free!"
    for token, start, end in tokenize(text):
        assert fold(text[start:end]) == token


def test_index_positions_spans_and_prefixes():
    index = TextIndex.build({"title": "Prisoners freed", "text": "A prisoner, two PRISONERS; prison."})
    assert index.tokens("text") == ["a", "prisoner", "two", "prisoners", "prison"]
    assert index.positions("text", "prisoners") == [3]
    assert index.positions("text", "absent") == []
    assert index.prefixed("text", "prison") == ["prison", "prisoner", "prisoners"]
    assert index.span("text", 3) == (16, 25)
    assert index.text("text")[16:25] == "PRISONERS"
    assert index.has_prefix("free") and not index.has_prefix("zz")
    assert index.vocabulary() == {"prisoners", "freed", "a", "prisoner", "two", "prison"}


# ------------------------------------------------------------------------------------- parser

@pytest.mark.parametrize(("query", "canonical"), [
    ("a b", "a AND b"),
    ("a b OR c", "a AND b OR c"),
    ("a (b OR c)", "a AND (b OR c)"),
    ("NOT a b", "NOT a AND b"),
    ("a NOT b", "a AND NOT b"),
    ("a NEAR/3 b c", "a NEAR/3 b AND c"),
    ("x NEAR/3 y NEAR/2 (z OR w)", "x NEAR/3 y NEAR/2 (z OR w)"),
    ("x NEAR/3 (y NEAR/2 z)", "x NEAR/3 (y NEAR/2 z)"),
    ("NOT NOT a", "NOT NOT a"),
    ('title:"military  exercise" zapad', 'title:"military exercise" AND zapad'),
    ("Title:(a OR b*)", "title:(a OR b*)"),
    ("text:@lukashenko", "text:@lukashenko"),
    ("((a))", "a"),
    ("a AND (b AND c)", "a AND b AND c"),
    ("a OR (b OR c)", "a OR b OR c"),
    ("and or not near", "and AND or AND not AND near"),
    ("NEARBY", "NEARBY"),
    ("covid-19 10:30", "covid-19 AND 10:30"),
    ("a\nOR\n  b", "a OR b"),
    ("a EXCEPT b", "a EXCEPT b"),
    ("a NEAR/2 b EXCEPT/3 (c OR d) e", "a NEAR/2 b EXCEPT/3 (c OR d) AND e"),
    ("a EXCEPT (b NEAR/2 c)", "a EXCEPT (b NEAR/2 c)"),
    ("SENTENCES/2 a b", "SENTENCES/2 a AND b"),
    ("SENTENCES/3 (a EXCEPT b)", "SENTENCES/3 (a EXCEPT b)"),
    ("ABOUT/2 a", "lead:a OR SENTENCES/2 a"),
    ("Lead:(a OR b)", "lead:(a OR b)"),
    ("except sentences about", "except AND sentences AND about"),
])
def test_canonical_form(query, canonical):
    tree = parse(query, ALIASES)
    assert to_string(tree) == canonical
    assert parse(canonical, ALIASES) == tree


def test_tree_shapes_of_exclusions_and_focus():
    assert parse("a NEAR/2 b EXCEPT c") == Except(Near(Term("a"), Term("b"), 2), Term("c"), 0)
    assert parse("a EXCEPT/4 b NEAR/2 c") == Near(Except(Term("a"), Term("b"), 4), Term("c"), 2)
    assert parse("SENTENCES/2 (a OR b)") == Sentences(2, Or((Term("a"), Term("b"))))
    assert parse("ABOUT/3 a") == Or((Field("lead", Term("a")), Sentences(3, Term("a"))))
    assert terms(parse("a EXCEPT b")) == ["a"]  # the veto is no term the article needs


def test_tree_shapes():
    assert parse("(release* OR freed) NEAR/12 prisoner*") == Near(
        Or((Prefix("release"), Term("freed"))), Prefix("prisoner"), 12)
    assert parse('a "b c" NOT d') == And((Term("a"), Phrase("b c"), Not(Term("d"))))
    assert parse("title:x") == Field("title", Term("x"))
    alias = parse("@lukashenko", ALIASES)
    assert isinstance(alias, Alias) and len(alias.variants) == 5
    assert alias.variants[2] == Prefix("Лукашенко") and alias.variants[4] == Phrase("Alexander Lukashenko")


@pytest.mark.parametrize(("query", "message", "line", "column"), [
    ("", "empty query", 1, 1),
    ("   ", "empty query", 1, 1),
    ("(military exercise", "expected ')' after 'exercise'", 1, 19),
    ("Zapad AND", "unexpected end of query after 'AND'", 1, 10),
    ("a OR", "unexpected end of query after 'OR'", 1, 5),
    ("NOT", "unexpected end of query after 'NOT'", 1, 4),
    ("@foo", "unknown alias @foo", 1, 1),
    ("a\n  @foo", "unknown alias @foo", 2, 3),
    ("troops NEAR drills", "NEAR needs a distance, as NEAR/10", 1, 8),
    ("a NEAR/x b", "NEAR needs a distance, as NEAR/10", 1, 3),
    ("a NEAR/0 b", "NEAR distance must be between 1 and 1000", 1, 3),
    ("NOT Iran", "a query cannot be only NOT", 1, 1),
    ("NOT a NOT b", "a query cannot be only NOT", 1, 1),
    ("title:(NOT a)", "a query cannot be only NOT", 1, 8),
    ("Belarus OR NOT Iran", "'NOT Iran' only excludes", 1, 12),
    ('"abc', "unterminated phrase", 1, 1),
    ("a EXCEPT/x b", "EXCEPT takes an optional distance, as EXCEPT or EXCEPT/5", 1, 3),
    ("a EXCEPT/1001 b", "EXCEPT distance must be between 1 and 1000", 1, 3),
    ("(a b) EXCEPT c", "EXCEPT works on terms, phrases, wildcards, aliases and OR groups, not AND", 1, 2),
    ("a EXCEPT NOT c", "EXCEPT works on terms, phrases, wildcards, aliases and OR groups, not NOT", 1, 10),
    ("SENTENCES/0 a", "SENTENCES count must be between 1 and 100", 1, 1),
    ("ABOUT/2", "unexpected end of query after 'ABOUT/2'", 1, 8),
    ("ABOUT/2 lead:a", "ABOUT counts sentences of the title and text: no field scope inside it", 1, 9),
    ("a NEAR/2 SENTENCES/2 b", "NEAR works on terms, phrases, wildcards, aliases and OR groups, not SENTENCES", 1, 10),
    ("NOT a EXCEPT b", "EXCEPT works on terms, phrases, wildcards, aliases and OR groups, not NOT", 1, 1),
    ('""', 'empty phrase ""', 1, 1),
    ("a)", "unexpected ')' without a matching '('", 1, 2),
    ("()", "empty parentheses '()'", 1, 2),
    ("(a OR)", "expected a term, phrase or '(' before ')', after 'OR'", 1, 6),
    ("AND a", "expected a term, phrase or '(' but found 'AND'", 1, 1),
    ("a OR OR b", "expected a term, phrase or '(' but found 'OR'", 1, 6),
    ("*", "'*' needs letters or digits before it", 1, 1),
    ("pr*son", "a wildcard * may only end a word", 1, 1),
    ("a **", "a wildcard * may only end a word", 1, 3),
    ('"a *b"', "a wildcard * may only end a word", 1, 1),
    ("-Iran", "to exclude a word write NOT Iran", 1, 1),
    ("&", "has no letters or digits to match", 1, 1),
    ("body:Minsk", "unknown field 'body:'", 1, 1),
    ("title:", "unexpected end of query after 'title:'", 1, 7),
    ("title: AND", "expected a term, phrase or '(' after 'title:'", 1, 8),
    ("title:text:x", "expected a term, phrase or '(' after 'title:'", 1, 7),
    ("title:(a text:b)", "text: inside title: can never match", 1, 1),
    ("(a b) NEAR/3 c", "NEAR works on terms, phrases, wildcards, aliases and OR groups, not AND", 1, 2),
    ("a NEAR/3 (b OR NOT c)", "not NOT", 1, 16),
    ("@", "expected an alias name after '@'", 1, 1),
])
def test_errors_point_at_the_place(query, message, line, column):
    with pytest.raises(RuleError) as caught:
        parse(query, ALIASES)
    assert message in caught.value.message
    assert (caught.value.line, caught.value.column) == (line, column)


def test_bad_alias_variant_is_reported_at_the_alias():
    with pytest.raises(RuleError, match=r"alias @x: variant 'pr\*son'") as caught:
        parse("a @x", {"x": ["ok", "pr*son"]})
    assert caught.value.column == 3


def test_terms_lists_positive_leaves_only():
    tree = parse('(release* OR freed) NEAR/12 prisoner* "a b" NOT veto @lukashenko', ALIASES)
    assert terms(tree) == ["release*", "freed", "prisoner*", '"a b"', "Lukashenko", "Lukashenka",
                           "Лукашенко*", "Лукашэнка", '"Alexander Lukashenko"']


# ------------------------------------------------------------------------------------- matching

@pytest.mark.parametrize(("query", "text", "expected"), [
    ("zapad", "Zapad-2025 began", True),
    ("zapad", "Zapadores de la ciudad", False),
    ("Minsk", "Mr Zieminski arrived", False),
    ("Minsk", "in MINSK today", True),
    ("Лукашенко", "Лукашенкова улица", False),
    ("Лукашенко*", "встреча с Лукашенко и Лукашенковым", True),
    ("минск", "В МИНСКЕ и Минск", True),
    ("Bialiatski", "Ales Białiatski", True),
    ("Białiatski", "ales BIALIATSKI", True),
    ("зеленый", "Зелёный", True),
    ("мой", "мои", False),
    ("prisoner*", "the prisoners", True),
    ("prisoner*", "imprisoned", False),
    ('"political prisoner"', "political prisoner", True),
    ('"political prisoner"', "prisoner political", False),
    ('"political prisoner"', "political, prisoner", True),  # punctuation is not a word
    ('"political prison*"', "Political Prisoners", True),
    ("covid-19", "covid 19 cases", True),
    ("a b", "b then a", True),
    ("a b", "only a", False),
    ("a OR b", "only b", True),
    ("a NOT b", "a and b", False),
    ("a NOT b", "a alone", True),
    ("release* NEAR/3 prisoner*", "prisoners were released", True),
    ("release* NEAR/3 prisoner*", "released three political prisoners", True),
    ("release* NEAR/3 prisoner*", "released four more political prisoners", False),
    ("prisoner* NEAR/1 release*", "released prisoners", True),
    ("(release* OR freed OR pardon*) NEAR/2 (prisoner* OR detainee*)", "detainees were freed", True),
    ("(release* OR freed) NEAR/2 prisoner*", "freed; then many days later, prisoners", False),
    ('"political prisoners" NEAR/2 freed', "political prisoners were freed", True),
    ('freed NEAR/1 "political prisoners"', "political prisoners freed", True),
    ("prisoner NEAR/5 prisoner", "one prisoner only", False),  # a word is not near itself
    ("prisoner NEAR/5 prisoner", "prisoner meets prisoner", True),
    ("(a NEAR/1 b) NEAR/1 c", "a b c", True),
    ("(a NEAR/1 b) NEAR/1 c", "a b x c", False),
    ("@lukashenko", "said Alexander Lukashenko", True),
    ("@lukashenko", "Лукашенко заявил", True),
    ("@lukashenko", "Лукашенком", True),
    ("@lukashenko", "Alexander Lukash", False),
    ("and", "rock and roll", True),
    ('"AND"', "rock and roll", True),
    # NEAR: a match inside or across the other side's is 0 apart; a match is never near itself
    ("belarusian NEAR/2 (freed NEAR/3 dissidents)", "they freed Belarusian dissidents", True),
    ('"a b" NEAR/1 "b c"', "a b c", True),
    ('"a b" NEAR/1 "a b"', "a b", False),
    # EXCEPT: a veto in the same sentence, or within n words
    ("prisoner* EXCEPT war", "The prisoners of war were swapped.", False),
    ("prisoner* EXCEPT war", "The prisoners of war were swapped. Political prisoners stay.", True),
    ("prisoner* EXCEPT war", "Prisoners stay; war goes on.", False),  # a semicolon does not end a sentence
    ("prisoner* EXCEPT war", "Prisoners stay.\nWar goes on.", True),  # a line break does
    ("prisoner* EXCEPT war", "The U.S. prisoners were freed, the war went on.", False),  # "U.S." ends nothing
    ("prisoner* EXCEPT/2 war", "Prisoners of war.", False),
    ("prisoner* EXCEPT/2 war", "Prisoners were freed; war goes on.", True),
    ("prisoner* EXCEPT/2 war", "War: two more prisoners.", True),
    ("(freed NEAR/3 prisoners) EXCEPT war", "War ended. Belarus freed 12 prisoners.", True),
    ("(freed NEAR/3 prisoners) EXCEPT war", "Freed prisoners of war.", False),
    ("(a EXCEPT b) NEAR/2 c", "a x c. b", True),
    ("(a EXCEPT b) NEAR/2 c", "a b c.", False),
    ("a EXCEPT x", "x.", False),
    # SENTENCES/n: the match within each of n sentences
    ("SENTENCES/2 sanction*", "Sanctions stay. Minsk fears sanctions.", True),
    ("SENTENCES/2 sanction*", "Sanctions stay, and sanctions grow.", False),
    ("SENTENCES/2 (sanction* NEAR/3 Minsk)", "New sanctions. Minsk shrugged.", False),  # a NEAR across two
    ("SENTENCES/2 (sanction* NEAR/3 Minsk)", "Minsk sanctions. Sanctions on Minsk.", True),
    ("SENTENCES/1 sanction*", "Sanctions.", True),
    ("SENTENCES/2 (sanction* EXCEPT under)", "Under sanctions. Sanctions grow. Sanctions bite.", True),
    ("SENTENCES/3 (sanction* EXCEPT under)", "Under sanctions. Sanctions grow. Sanctions bite.", False),
])
def test_matching(query, text, expected):
    assert matches(query, text) is expected


@pytest.mark.parametrize(("query", "title", "text", "expected"), [
    ("title:pardon*", "Lukashenko pardons 18", "", True),
    ("title:pardon*", "Harvest news", "He pardoned them", False),
    ("text:pardon*", "Pardons", "", False),
    ("pardon*", "Pardons", "", True),
    ('title:"military exercise"', "", "military exercise", False),
    ("title:(a OR b) c", "b", "c", True),
    ("title:(a OR b) c", "c", "b", False),
    ("a NEAR/3 b", "a", "b", False),  # NEAR needs both in the same field
    ("title:a NEAR/3 b", "a b", "a b", True),
    ("NOT title:x y", "x", "y", False),
    ("NOT title:x y", "z", "x y", True),
    ("title:(a NOT b)", "a", "b", True),
    # lead: the title and the text's first sentence
    ("lead:pardon*", "Lukashenko pardons 18", "", True),
    ("lead:pardon*", "Harvest news", "He pardoned them. Then rain.", True),
    ("lead:pardon*", "Harvest news", "Rain fell. He pardoned them.", False),
    ("lead:pardon*", "Harvest news", "Harvest news\nHe pardoned them. Then rain.", True),  # a headline copy
    ("lead:pardon*", "", "Connect with us\nWorld\nHe pardoned twelve people. Rain.", True),  # template lines
    ("lead:pardon*", "", "Lukashenko pardons twelve people\nThe decree was signed. He pardoned them.", True),
    ("lead:(harvest NEAR/2 pardon*)", "Harvest news", "Pardons later. Rain.", True),  # across title and sentence
    ("lead:pardon* OR SENTENCES/2 pardon*", "x", "Rain. Pardons. More pardons.", True),
    ("ABOUT/2 pardon*", "x", "Rain. Pardons. Sun.", False),
    ("ABOUT/2 pardon*", "x", "Pardons. Sun.", True),
    ("ABOUT/2 pardon*", "A pardon", "Rain. Pardons. Sun.", True),  # the title and one sentence: 2 sentences
])
def test_field_scopes(query, title, text, expected):
    assert matches(query, text, title) is expected


def test_evidence_points_at_the_original_words():
    text = "Twelve political PRISONERS were released. Ales Białiatski — «Лукашенко» promised nothing."
    index = TextIndex.build({"title": "Freed!", "text": text})
    match = evaluate(parse('release* NEAR/5 prisoner* Bialiatski @lukashenko "political prison*"', ALIASES),
                     index)
    assert match.matched
    found = {(e.term, text[e.start:e.end]) for e in match.evidence if e.field == "text"}
    assert found == {("release*", "released"), ("prisoner*", "PRISONERS"), ("Bialiatski", "Białiatski"),
                     ("Лукашенко*", "Лукашенко"), ('"political prison*"', "political PRISONERS")}
    assert match.clauses == ("release* NEAR/5 prisoner*", "Bialiatski", "@lukashenko", '"political prison*"')


def test_evidence_is_capped_per_term_and_field():
    index = TextIndex.build({"title": "", "text": "war " * 50})
    assert len(evaluate(parse("war"), index).evidence) == 3


def test_clauses_report_satisfied_parts_only():
    index = TextIndex.build({"title": "Sanctions", "text": "Belarus sanctions"})
    match = evaluate(parse("Belarus (sanction* OR embargo) NOT Iran title:sanction*"), index)
    assert match.clauses == ("Belarus", "sanction*", "NOT Iran", "title:sanction*")
    assert {e.field for e in match.evidence} == {"title", "text"}


def test_no_match_has_no_evidence():
    index = TextIndex.build({"title": "", "text": "nothing here"})
    match = evaluate(parse("zapad"), index)
    assert not match.matched and match.evidence == () and explain(match, index) == "no match"


def test_explain_brackets_the_words_of_the_sentence():
    text = "First sentence here. Twelve political prisoners were released on Monday. Last one."
    index = TextIndex.build({"title": "", "text": text})
    why = explain(evaluate(parse("release* NEAR/5 prisoner*"), index), index)
    assert why == ('release* NEAR/5 prisoner* — terms prisoner*, release* — text: '
                   '"Twelve political [prisoners] were [released] on Monday."')


def test_explain_marks_a_cut_sentence():
    text = "word " * 100 + "target " + "word " * 100
    index = TextIndex.build({"title": "", "text": text})
    why = explain(evaluate(parse("target"), index), index)
    assert '"…word' in why and "[target]" in why and why.endswith('…"')


def test_evaluate_with_other_field_names():
    index = TextIndex.build({"summary": "Minsk news"})
    assert evaluate(parse("minsk"), index).matched
    assert not evaluate(parse("title:minsk"), index).matched


# ------------------------------------------------------------------------------------- lists

def test_compile_lists():
    query = compile_lists(all_of=["minsk", ["prisoner*", "political prisoners"]], any_of=["@lukashenko", "AND"],
                          none_of=["title:football", 'say "hi"', "(x)"])
    assert query == ('(minsk) AND (prisoner* OR "political prisoners") AND (@lukashenko OR "AND") '
                     'AND NOT (title:football OR "say hi" OR "(x)")')
    assert parse(query, ALIASES)


@pytest.mark.parametrize("bad", [{}, {"none_of": ["x"]}, {"all_of": [[]]}, {"any_of": ["pr*son"]}])
def test_compile_lists_rejects(bad):
    with pytest.raises(RuleError):
        compile_lists(**bad)


# ------------------------------------------------------------------------------------- RuleSet

def test_ruleset_matches_what_evaluate_matches():
    rules = {
        "near": parse("(release* OR freed) NEAR/4 prisoner*"),
        "title": parse("title:(pardon* OR amnesty) OR Belarus sanction*"),
        "veto": parse("Belarus NOT Iran"),
        "alias": parse("@lukashenko", ALIASES),
        "phrase": parse('"political prisoner*"'),
        "none": parse("zzz"),
        "short": parse("be* sanction*"),
        "scoped": parse("text:(prisoner* OR Лукашенко)"),
    }
    ruleset = RuleSet(rules)
    texts = [("Amnesty", "Belarus and Iran"), ("", "political prisoners freed in Belarus"),
             ("Pardons", "Лукашенко"), ("", "sanctions on Belarus"), ("", "prisoners freed")]
    for title, text in texts:
        index = TextIndex.build({"title": title, "text": text})
        expected = {name for name, node in rules.items() if evaluate(node, index).matched}
        got = ruleset.match_all(index)
        assert set(got) == expected
        assert all(got[name] == evaluate(rules[name], index) for name in got)
    assert len(ruleset) == 8


def test_ruleset_matching_and_explain_agree_with_match_all():
    rules = {
        "near": parse("(release* OR freed) NEAR/4 prisoner*"),
        "prefixes": parse("prison* OR prisoner*"),  # a word can be one stem and start another
        "veto": parse("Belarus NOT Iran"),
        "title": parse("title:sanction* AND Belarus"),
    }
    ruleset = RuleSet(rules)
    for title, text in [("Sanctions", "Belarus and Iran"), ("", "prison prisoner prisoners prisoner freed"),
                        ("Sanctions", "Belarus prisoners")]:
        index = TextIndex.build({"title": title, "text": text})
        expected = {name: evaluate(node, TextIndex.build({"title": title, "text": text}))
                    for name, node in rules.items()}
        names = ruleset.matching(index)
        assert names == [name for name in rules if expected[name].matched]
        assert {name: ruleset.explain(name, index) for name in rules} == expected
        assert ruleset.match_all(index) == {name: expected[name] for name in names}


def test_prefix_evidence_counts_each_word_once():
    ruleset = RuleSet({"short": parse("prison*"), "long": parse("prisoner*")})
    text = "prisoner prisoner prisoner x prisoners"
    index = TextIndex.build({"title": "", "text": text})
    got = ruleset.match_all(index)["short"]
    assert [text[e.start:e.end] for e in got.evidence] == ["prisoner"] * 3
    assert got == evaluate(parse("prison*"), TextIndex.build({"title": "", "text": text}))


def test_ruleset_finds_a_token_that_folds_to_several_words():
    # U+FDFA is one letter whose folding holds spaces: the search text stands U+001F for them.
    rules = {"word": parse("\ufdfa"), "near": parse("\ufdfa NEAR/1 b"), "stem": parse("a*")}
    ruleset = RuleSet(rules)
    for text in ["a \ufdfa b", "x \ufdfa", "b c \ufdfa", "nothing"]:
        index = TextIndex.build({"title": "", "text": text})
        expected = {name: evaluate(node, TextIndex.build({"title": "", "text": text})) for name, node in rules.items()}
        assert ruleset.match_all(index) == {name: m for name, m in expected.items() if m.matched}
    assert set(ruleset.match_all(TextIndex.build({"title": "", "text": "a \ufdfa b"}))) == {"word", "near", "stem"}


@pytest.mark.parametrize("text", [
    "ЁЛКА Ёлка ЎЛАДА Ґанок ЄС І Її № 5 € Ђ µ", "Mr Müller-Smith said: «Лукашенко» — 18 політв'язнів",
    "a\x01b \x1cc\u2009d e\u202ff", "日本語 и русский", "Straße ß İstanbul ﬁ ＡＢ１", "x\u0301y Z\u0306",
    "Škoda, Łukasz; Białiatski. ł", "\U0001f600ok\ud800no", "ПРИВЕТ мир " * 3 + "Zoë",
])
def test_index_tokens_and_spans_on_mixed_scripts(text):
    reference = tokenize(text)
    index = TextIndex.build({"f": text})
    assert index.tokens("f") == [t for t, _, _ in reference]
    positions = list(range(len(reference)))
    for order in (positions, positions[::-1]):
        index = TextIndex.build({"f": text})
        assert [index.span("f", i) for i in order] == [reference[i][1:] for i in order]


# ------------------------------------------------------------------------------------- README

def _readme_examples() -> list[tuple[str, list[tuple[str, str, bool]]]]:
    readme = (ROOT / "rules" / "README.md").read_text(encoding="utf-8")
    out = []
    for block in re.finditer(r"```query\n(.*?)\n```\n((?:(?:matches|matches title|no match): [^\n]*\n)*)", readme,
                             re.DOTALL):
        checks = []
        for line in block.group(2).splitlines():
            kind, _, sentence = line.partition(": ")
            checks.append(("title" if kind == "matches title" else "text", sentence, kind != "no match"))
        out.append((block.group(1), checks))
    return out


def test_readme_has_examples_with_sentences():
    examples = _readme_examples()
    assert len(examples) >= 10
    assert sum(len(checks) for _, checks in examples) >= 15


@pytest.mark.parametrize(("query", "checks"), _readme_examples())
def test_readme_examples(query, checks):
    tree = parse(query, ALIASES)
    for field, sentence, expected in checks:
        index = index_article(sentence, "") if field == "title" else index_article("", sentence)
        assert evaluate(tree, index).matched is expected, (query, sentence)


def test_readme_error_table():
    readme = (ROOT / "rules" / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(.+?)` \| `(\d+):(\d+): (.+?)` \|$", readme, re.MULTILINE)
    assert len(rows) >= 5
    for query, line, column, message in rows:
        with pytest.raises(RuleError) as caught:
            parse(query, ALIASES)
        assert (caught.value.line, caught.value.column, caught.value.message) == (int(line), int(column), message)


# ------------------------------------------------------------------------------------- properties

# RULE_EXAMPLES=3000 for a deeper run
FAST = settings(max_examples=int(os.environ.get("RULE_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
QUERY_ALPHABET = st.sampled_from(list('ab AND OR NOT NEAR/3 ( ) " * @ title: text: - é Ж\n') + [
    "AND", "OR", "NOT", "NEAR/2", "NEAR", "title:", "@lukashenko", "@x", "prison*", '"a b"'])
TEXT_ALPHABET = st.sampled_from(list("ab xyZ 09.,;'-_\n\tłёЁйЙ«»—\u0301İßΩ\u3000\xa0ﬁ½é日\u093f") + [
    "Minsk ", "Białiatski ", "prisoners ", "released "])


@FAST
@given(st.lists(QUERY_ALPHABET, max_size=12).map(" ".join))
def test_parser_raises_only_rule_errors(query):
    try:
        tree = parse(query, ALIASES)
    except RuleError as exc:
        assert exc.line is not None and exc.column is not None
    else:
        assert parse(to_string(tree), ALIASES) == tree


@FAST
@given(st.text(max_size=40))
def test_parser_on_arbitrary_text(query):
    with contextlib.suppress(RuleError):  # anything else fails the test
        parse(query, ALIASES)


WORDS = st.sampled_from(["minsk", "Zapad", "prisoner", "AND1", "Лукашенко", "covid-19", "a", "NEARBY", "x10"])
LEAVES = st.one_of(
    WORDS.map(Term), WORDS.map(Prefix),
    st.lists(WORDS, min_size=1, max_size=3).map(lambda ws: Phrase(" ".join(ws))),
    st.just(parse("@lukashenko", ALIASES)),
)


def _positional(children):
    return st.one_of(
        children.flatmap(lambda a: children.map(lambda b: Or((a, b)) if not isinstance(a, Or | And | Not)
                                                and not isinstance(b, Or | And | Not) else a)),
        st.tuples(children, children, st.integers(1, 20)).map(
            lambda t: Near(t[0], t[1], t[2]) if all(isinstance(x, Term | Prefix | Phrase | Alias) for x in t[:2])
            else t[0]),
        st.tuples(children, children, st.integers(0, 6)).map(
            lambda t: Except(t[0], t[1], t[2]) if all(isinstance(x, Term | Prefix | Phrase | Alias | Near)
                                                      for x in t[:2]) else t[0]),
    )


TREES = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda xs: And(tuple(
            g for x in xs for g in (x.children if isinstance(x, And) else (x,))))),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: Or(tuple(
            g for x in xs for g in (x.children if isinstance(x, Or) else (x,))))),
        children.map(Not),
        st.tuples(children, st.sampled_from(["title", "lead"])).map(
            lambda t: t[0] if has_field(t[0]) else Field(t[1], t[0])),
        st.tuples(st.integers(1, 3), children).map(
            lambda t: Sentences(t[0], t[1]) if is_positional(t[1]) and not has_field(t[1]) else t[1]),
        _positional(children),
    ),
    max_leaves=8,
)


@FAST
@given(TREES)
def test_print_then_parse_gives_the_same_tree(tree):
    text = to_string(tree)
    try:
        again = parse(text, ALIASES)
    except RuleError as exc:
        # generated trees may be only-negative, which the parser refuses on purpose
        assert "NOT" in exc.message or "only excludes" in exc.message
        return
    assert again == tree, text


@FAST
@given(TREES, st.lists(TEXT_ALPHABET, max_size=30).map("".join))
def test_evaluate_never_raises_and_evidence_is_in_the_text(tree, text):
    index = index_article(text[:10], text)
    match = evaluate(tree, index)
    for e in match.evidence:
        assert 0 <= e.start < e.end <= len(index.text(e.field))
    if match.matched:
        assert explain(match, index)
    # evidence in the lead, moved to the title or text, points at the same words there
    for moved in in_title_and_text(match, text[:10], text).evidence:
        assert moved.field in ("title", "text")
        assert 0 <= moved.start < moved.end <= len(index.text(moved.field))
    lead_words = {index.text("lead")[e.start:e.end] for e in match.evidence if e.field == "lead"}
    moved_words = {index.text(e.field)[e.start:e.end] for e in in_title_and_text(match, text[:10], text).evidence}
    assert lead_words <= moved_words


@FAST
@given(st.lists(TREES, min_size=1, max_size=4), st.lists(TEXT_ALPHABET | WORDS, max_size=40).map(" ".join))
def test_ruleset_agrees_with_evaluate(trees, text):
    rules = {f"r{i}": tree for i, tree in enumerate(trees)}
    ruleset = RuleSet(rules)
    index = index_article(text[:12], text)
    expected = {name: evaluate(tree, index_article(text[:12], text)) for name, tree in rules.items()}
    assert ruleset.match_all(index) == {name: m for name, m in expected.items() if m.matched}
    assert ruleset.matching(index) == [name for name, m in expected.items() if m.matched]


@FAST
@given(st.lists(TEXT_ALPHABET, max_size=60).map("".join))
def test_index_tokens_equal_the_canonical_tokenizer(text):
    reference = tokenize(text)
    index = TextIndex.build({"f": text})
    assert index.tokens("f") == [t for t, _, _ in reference]
    assert [index.span("f", i) for i in range(len(reference))] == [(s, e) for _, s, e in reference]


@pytest.mark.parametrize(("query", "text", "expected"), [
    ("a b c", "a c", ["b: not found"]),
    ("a b c", "a b c", []),
    ("a NEAR/2 b", "a x x x b", ["a NEAR/2 b: both there, not within 2 words"]),
    ("a NEAR/2 b", "x", ["a: not found", "b: not found"]),
    ("(a b) OR (c d e)", "a c", ["b: not found"]),  # the alternative that came closest
    ("a NOT b", "a b", ["excluded by NOT b"]),
    ("a EXCEPT b", "a b.", ["a EXCEPT b: every match vetoed"]),
    ("SENTENCES/2 a", "a. x.", ["SENTENCES/2 a: in fewer sentences"]),
    ("title:a b", "b", ["title:a: not found"]),
    ("(x OR y OR z) w", "w", ["x OR y OR z: none found"]),
    ("@lukashenko minsk", "minsk", ["@lukashenko: not found"]),
])
def test_failures_say_which_clauses_failed(query, text, expected):
    assert failures(parse(query, ALIASES), index_article("", text)) == expected
