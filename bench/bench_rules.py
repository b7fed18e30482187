"""Benchmark of the rule engine: TextIndex once per article + RuleSet.match_all, against a loop of one
compiled `re` regex per rule, over generated ~5 KB articles with 10 / 100 / 1,000 / 10,000 rules.

Run: python bench/bench_rules.py        (single process, so rates are per core; about a minute)
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.rules.query import RuleSet, parse, terms  # noqa: E402
from monitor.rules.text import TextIndex  # noqa: E402

SEED = 20240601
ARTICLE_CHARS = 5000
# (rules, articles for the engine, articles for the regex loop): the regex loop is slow, so it gets fewer.
CASES = ((10, 3000, 1000), (100, 3000, 300), (1_000, 3000, 60), (10_000, 1000, 8))

_LATIN_SYLLABLES = [
    "ka", "ri", "to", "mel", "san", "do", "ver", "pol", "lin", "gra", "tus", "ben", "mor", "cle", "va", "ne",
    "stra", "pri", "son", "rel", "ea", "fed",
]
_CYRILLIC_SYLLABLES = ["ка", "ро", "ви", "ле", "ст", "на", "по", "за", "ми", "ше", "ть", "лу", "дя", "ён", "ий", "ры"]
_NAMES = ["Białiatski", "Łukasz", "Zieminski", "Lukashenka", "Tsikhanouskaya", "Škoda", "Müller"]


def make_vocabulary(rng: random.Random, syllables: list[str], size: int) -> list[str]:
    words: dict[str, None] = {}
    while len(words) < size:
        words["".join(rng.choices(syllables, k=rng.choice((1, 2, 2, 3, 3, 3, 4))))] = None
    return list(words)


class Corpus:
    """Zipf-distributed words, so rules see frequent, mid and rare terms as in real news."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.latin = make_vocabulary(rng, _LATIN_SYLLABLES, 20_000)
        self.cyrillic = make_vocabulary(rng, _CYRILLIC_SYLLABLES, 8_000)
        self.phrases = [f"{a} {b}" for a, b in zip(self.latin[300:700], self.latin[900:1300], strict=True)]
        self._latin_weights = self._cumulative(len(self.latin))
        self._cyrillic_weights = self._cumulative(len(self.cyrillic))

    @staticmethod
    def _cumulative(n: int) -> list[float]:
        total, out = 0.0, []
        for rank in range(1, n + 1):
            total += 1.0 / rank ** 1.05
            out.append(total)
        return out

    def article(self) -> dict[str, str]:
        rng = self.rng
        cyrillic = rng.random() < 0.2
        vocab, weights = ((self.cyrillic, self._cyrillic_weights) if cyrillic
                          else (self.latin, self._latin_weights))
        sentences, size = [], 0
        while size < ARTICLE_CHARS:
            words = rng.choices(vocab, cum_weights=weights, k=rng.randint(8, 22))
            if rng.random() < 0.15:
                words.insert(rng.randrange(len(words)), rng.choice(self.phrases))
            if rng.random() < 0.05:
                words.insert(rng.randrange(len(words)), rng.choice(_NAMES))
            if rng.random() < 0.3:
                words[rng.randrange(len(words))] += ","
            sentence = " ".join(words)
            sentence = sentence[0].upper() + sentence[1:] + rng.choice((".", ".", ".", "?", "!"))
            if rng.random() < 0.1:
                sentence = f"«{sentence}»" if cyrillic else f'"{sentence}"'
            sentences.append(sentence)
            size += len(sentence) + 1
        title_words = rng.choices(vocab, cum_weights=weights, k=rng.randint(5, 10))
        return {"title": " ".join(title_words).capitalize(), "text": " ".join(sentences)}

    def term(self) -> str:
        """A content word: users do not write rules for 'the' (log-uniform over ranks 1,500..20,000 here)."""
        word = self.latin[int(1500 * (13 ** self.rng.random())) - 1]
        if len(word) >= 7 and self.rng.random() < 0.4:  # wildcards stand for word endings, as prisoner*
            return word[: len(word) - 2] + "*"
        return word

    def rule(self) -> str:
        rng, t = self.rng, self.term
        group = " OR ".join(t() for _ in range(rng.randint(3, 6)))
        other = " OR ".join(t() for _ in range(rng.randint(2, 4)))
        shape = rng.randrange(4)
        if shape == 0:
            return f"({group}) AND ({other}) NOT {t()}"
        if shape == 1:
            return f'("{rng.choice(self.phrases)}" OR {group}) AND ({t()} OR {t()}) NEAR/10 ({other})'
        if shape == 2:
            return f"title:({t()} OR {t()}) OR ({group}) AND {t()} NOT ({t()} OR {t()})"
        return f'({group}) NEAR/12 ({other}) AND NOT "{rng.choice(self.phrases)}"'


def regex_for(query: str) -> re.Pattern[str]:
    """The usual hand-made approximation: any positive term, as a word, case-insensitive."""
    parts = []
    for term in terms(parse(query)):
        words = [re.escape(w.rstrip("*")) + (r"\w*" if w.endswith("*") else "") for w in term.strip('"').split()]
        parts.append(r"\s+".join(words))
    return re.compile(r"\b(?:" + "|".join(parts) + r")\b", re.IGNORECASE)


def bench_engine(ruleset: RuleSet, articles: list[dict[str, str]]) -> tuple[float, int]:
    start = time.perf_counter()
    hits = 0
    for article in articles:
        hits += len(ruleset.match_all(TextIndex.build(article)))
    return len(articles) / (time.perf_counter() - start), hits


def bench_regex(patterns: list[re.Pattern[str]], articles: list[dict[str, str]]) -> float:
    start = time.perf_counter()
    for article in articles:
        doc = article["title"] + "\n" + article["text"]
        for pattern in patterns:
            pattern.search(doc)
    return len(articles) / (time.perf_counter() - start)


def bench_index(articles: list[dict[str, str]]) -> float:
    start = time.perf_counter()
    for article in articles:
        TextIndex.build(article)
    return len(articles) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply article counts (e.g. 0.1 for a smoke run)")
    args = parser.parse_args(argv)
    rng = random.Random(SEED)
    corpus = Corpus(rng)
    most = max(int(n * args.scale) for _, n, _ in CASES) or 1
    articles = [corpus.article() for _ in range(most)]
    size = sum(len(a["title"]) + len(a["text"]) for a in articles) / len(articles)
    print(f"{len(articles)} generated articles, {size:,.0f} chars on average "
          f"({sum(not a['text'].isascii() for a in articles)} non-ASCII); one process, rates per core")
    print(f"TextIndex.build alone: {bench_index(articles):,.0f} articles/s\n")
    print(f"{'rules':>7} {'parse s':>8} {'engine art/s':>13} {'hits/art':>9} {'regex art/s':>12} {'ratio':>8}")
    for n_rules, n_engine, n_regex in CASES:
        queries = [corpus.rule() for _ in range(n_rules)]
        start = time.perf_counter()
        ruleset = RuleSet({f"r{i}": parse(q) for i, q in enumerate(queries)})
        parse_s = time.perf_counter() - start
        patterns = [regex_for(q) for q in queries]
        engine, hits = bench_engine(ruleset, articles[: max(1, int(n_engine * args.scale))])
        regex = bench_regex(patterns, articles[: max(1, int(n_regex * args.scale))])
        per_article = hits / max(1, int(n_engine * args.scale))
        print(f"{n_rules:>7,} {parse_s:>8.2f} {engine:>13,.0f} {per_article:>9.2f} {regex:>12,.1f} "
              f"{engine / regex:>7,.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
