"""Benchmark of the rule engine: TextIndex once per article + RuleSet, against a loop of one compiled
`re` regex per rule, over generated ~5 KB articles with 10 / 100 / 1,000 / 10,000 rules.

Columns: "match+evid" is what the monitor does per article (index it, find the matching rules, compute
the evidence and clauses of each match: RuleSet.match_all); "bool only" stops at which rules match
(RuleSet.matching); "regex" searches every rule's regex; "ratio" is match+evid over regex.

The last table is the shipped rules (rules/*.yaml) on the 181 real news articles of
../shared/corpora/scrapinghub-aeb (their ground-truth bodies): CPU per article of what the monitor runs for
each article (`match_article`: the index with its lead, every shipped rule, evidence, why-lines and snippets),
against building the bare TextIndex of the same article.

The shipped rules' `rules near-misses` (the failure walk of every rule) is timed on the same articles.

Run: python bench/bench_rules.py        (about a minute); --shipped-only for the last table alone. Rates are
articles per CPU second of this one process (per core), best of 3 slices, so other processes on the machine
disturb them little.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.cli.verdict import near_misses  # noqa: E402
from monitor.rules.files import load_rulebook  # noqa: E402
from monitor.rules.matching import match_article  # noqa: E402
from monitor.rules.query import parse, terms  # noqa: E402
from monitor.rules.ruleset import RuleSet  # noqa: E402
from monitor.text.tokens import TextIndex  # noqa: E402

SEED = 20240601
ARTICLE_CHARS = 5000
WARMUP = 1000  # untimed articles each RuleSet reads first
ROUNDS = 3  # timed slices per measurement; the best counts
# (rules, articles for the engine, articles for the regex loop): the regex loop is slow, so it gets fewer.
CASES = ((10, 3000, 900), (100, 3000, 300), (1_000, 3000, 60), (10_000, 1200, 9))

_LATIN_SYLLABLES = [
    "ka", "ri", "to", "mel", "san", "do", "ver", "pol", "lin", "gra", "tus", "ben", "mor", "cle", "va", "ne",
    "stra", "pri", "son", "rel", "ea", "fed",
]
_CYRILLIC_SYLLABLES = ["ка", "ро", "ви", "ле", "ст", "на", "по", "за", "ми", "ше", "ть", "лу", "дя", "ён", "ий", "ры"]
_ENDINGS = ["", "", "", "s", "ed", "ing", "er", "ers"]
_ENDINGS_RU = ["", "", "а", "ов", "ами", "у"]
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
            for i in range(0, len(words), 3):  # inflect some words, as prisoner -> prisoners
                words[i] += rng.choice(_ENDINGS_RU if cyrillic else _ENDINGS)
            if rng.random() < 0.15:
                words.insert(rng.randrange(len(words)), rng.choice(self.phrases))
            if rng.random() < 0.02:
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
        """A content word: users do not write rules for 'the' (log-uniform over ranks 800..20,000 here,
        which makes a rule match about 0.2% of articles)."""
        word = self.latin[int(800 * ((20000 / 800) ** self.rng.random())) - 1]
        return word + "*" if self.rng.random() < 0.3 else word  # wildcards cover endings, as prisoner*

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


def best_rate(work: Callable[[dict[str, str]], int], articles: list[dict[str, str]]) -> tuple[float, int]:
    """(articles per CPU second, summed result of `work`): CPU time of this process, so time spent
    descheduled does not count, and the best of ROUNDS consecutive slices, so a slice slowed down by
    other processes sharing the core does not either."""
    rounds = min(ROUNDS, len(articles))
    size = len(articles) // rounds
    best, total = 0.0, 0
    for r in range(rounds):
        chunk = articles[r * size:(r + 1) * size]
        start = time.process_time()
        total += sum(work(article) for article in chunk)
        best = max(best, len(chunk) / max(time.process_time() - start, 1e-9))
    return best, total


def bench_engine(ruleset: RuleSet, articles: list[dict[str, str]],
                 warmup: list[dict[str, str]]) -> tuple[float, float, int]:
    """(articles/s with evidence, articles/s boolean only, matches)."""
    # A running monitor has already explained most of its rules once (each rule's explanation is compiled
    # on its first match) and folded the common non-ASCII words, so the RuleSet first reads other
    # articles, as it would have in production, untimed.
    for article in warmup:
        ruleset.match_all(TextIndex.build(article))

    def with_evidence(article: dict[str, str]) -> int:
        matches = ruleset.match_all(TextIndex.build(article))
        return sum(1 for m in matches.values() if m.evidence or m.clauses)

    def boolean(article: dict[str, str]) -> int:
        return len(ruleset.matching(TextIndex.build(article)))

    full, hits = best_rate(with_evidence, articles)
    return full, best_rate(boolean, articles)[0], hits


def bench_regex(patterns: list[re.Pattern[str]], articles: list[dict[str, str]]) -> float:
    def search_all(article: dict[str, str]) -> int:
        doc = article["title"] + "\n" + article["text"]
        return sum(pattern.search(doc) is not None for pattern in patterns)
    return best_rate(search_all, articles)[0]


def bench_index(articles: list[dict[str, str]]) -> float:
    return best_rate(lambda article: len(TextIndex.build(article).fields), articles)[0]


ROOT = Path(__file__).resolve().parents[1]
REAL_ARTICLES = ROOT.parent / "shared" / "corpora" / "scrapinghub-aeb" / "ground-truth.json"
SHIPPED_PASSES = 5  # passes over the 181 articles per timed slice


def bench_shipped(corpus: Path) -> None:
    """CPU per real article of the shipped rules (match_article), and of the bare index of it."""
    if not corpus.exists():
        print(f"shipped rules: skipped, no corpus at {corpus}")
        return
    truth = json.loads(corpus.read_text(encoding="utf-8"))
    articles = [{"title": v.get("url", "").rstrip("/").rsplit("/", 1)[-1].replace("-", " "),
                 "text": v.get("articleBody") or ""} for v in truth.values()]
    book = load_rulebook(ROOT / "rules")
    for a in articles:  # untimed: fold caches and rule explanations warm, as in a running monitor
        match_article(book, a["title"], a["text"])
    many = articles * SHIPPED_PASSES

    def shipped(article: dict[str, str]) -> int:
        return len(match_article(book, article["title"], article["text"]))

    rate, hits = best_rate(shipped, many)
    bare = best_rate(lambda a: len(TextIndex.build(a).fields), many)[0]
    size = sum(len(a["text"]) for a in articles) / len(articles)
    print(f"\nshipped rules ({', '.join(book.names)}) on {len(articles)} real articles, {size:,.0f} chars on "
          f"average ({hits} hits in {len(many)} matches)")
    print(f"{'match_article ms/art':>22} {'bare index ms/art':>18} {'ratio':>7}")
    print(f"{1000 / rate:>22.3f} {1000 / bare:>18.3f} {bare / rate:>6.1f}x")
    # `rules near-misses` on the same articles: per article, every shipped rule's failure walk (one pass)
    near_rate, near = best_rate(lambda a: len(near_misses(book, book.rules, a["title"], a["text"])), articles)
    print(f"rules near-misses: {1000 / near_rate:.3f} ms/art ({near} near misses in {len(articles)} articles)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply article counts (e.g. 0.1 for a smoke run)")
    parser.add_argument("--shipped-only", action="store_true", help="only the shipped rules on real articles")
    args = parser.parse_args(argv)
    if args.shipped_only:
        bench_shipped(REAL_ARTICLES)
        return 0
    rng = random.Random(SEED)
    corpus = Corpus(rng)
    most = max(int(n * args.scale) for _, n, _ in CASES) or 1
    articles = [corpus.article() for _ in range(most)]
    warmup = [corpus.article() for _ in range(WARMUP)]
    size = sum(len(a["title"]) + len(a["text"]) for a in articles) / len(articles)
    print(f"{len(articles)} generated articles, {size:,.0f} chars on average "
          f"({sum(not a['text'].isascii() for a in articles)} non-ASCII); rates per CPU second, best of {ROUNDS}")
    print(f"TextIndex.build alone: {bench_index(articles):,.0f} articles/s\n")
    print(f"{'rules':>7} {'parse s':>8} {'match+evid/s':>13} {'bool only/s':>12} {'hits/art':>9} {'regex art/s':>12} "
          f"{'ratio':>8}")
    for n_rules, n_engine, n_regex in CASES:
        queries = [corpus.rule() for _ in range(n_rules)]
        start = time.perf_counter()
        ruleset = RuleSet({f"r{i}": parse(q) for i, q in enumerate(queries)})
        parse_s = time.perf_counter() - start
        patterns = [regex_for(q) for q in queries]
        engine, boolean, hits = bench_engine(ruleset, articles[: max(1, int(n_engine * args.scale))], warmup)
        regex = bench_regex(patterns, articles[: max(1, int(n_regex * args.scale))])
        per_article = hits / (max(1, int(n_engine * args.scale)) // ROUNDS * ROUNDS or 1)
        print(f"{n_rules:>7,} {parse_s:>8.2f} {engine:>13,.0f} {boolean:>12,.0f} {per_article:>9.2f} {regex:>12,.1f} "
              f"{engine / regex:>7,.0f}x")
    bench_shipped(REAL_ARTICLES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
