"""Extraction quality on scrapinghub's article-extraction-benchmark (../shared/corpora/scrapinghub-aeb):
bare trafilatura.extract(html) with defaults against our path (decode_html + extract_article), same
pages, same run, scored with the benchmark's metric (token 4-gram shingles against articleBody).

Run: python bench/extract_quality.py        (about 10 s). Skips with a message when the corpus is absent.
     python bench/extract_quality.py --json  the same figures as one JSON object (tests/test_extract.py reads it).
The corpus reader (Page, load_pages) lives in tests/aeb_corpus.py, shared with the extraction tests.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trafilatura  # noqa: E402

from monitor.extract import extract_article  # noqa: E402
from monitor.models import FeedItem  # noqa: E402
from tests.aeb_corpus import CORPUS, Page, load_pages  # noqa: E402

_TOKEN = re.compile(r"\w+")
SHINGLE = 4  # the benchmark's unit: 4 consecutive \w+ tokens


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float
    empty: int  # pages for which the system gave no text at all


def bare(page: Page) -> str:
    """What trafilatura gives with every default, handed the page bytes."""
    return trafilatura.extract(page.html) or ""


def ours(page: Page) -> str:
    """Our extract stage as the pipeline runs it, for a feed item that has no summary to fall back on."""
    item = FeedItem(feed_url="http://feed.invalid/", feed_name="corpus", guid=None, url=page.url, title="",
                    summary="", published=None)
    return extract_article(item, page.html, "text/html").text


def shingle_counts(text: str) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text)
    # a text shorter than one shingle still counts as one (shorter) shingle, as in the benchmark
    return Counter(tuple(tokens[i:i + SHINGLE]) for i in range(max(1, len(tokens) - SHINGLE + 1))
                   if tokens[i:i + SHINGLE])


def page_counts(truth: str, predicted: str) -> tuple[float, float, float]:
    """True positive, false positive and false negative shingles, scaled to sum to 1 per page."""
    want, got = shingle_counts(truth), shingle_counts(predicted)
    tp, fp, fn = sum((want & got).values()), sum((got - want).values()), sum((want - got).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def score(truths: Sequence[str], predictions: Sequence[str]) -> Score:
    """Mean per-page precision (pages with output) and recall (pages with truth); F1 of those means."""
    counts = [page_counts(t, p) for t, p in zip(truths, predictions, strict=True)]
    precision = statistics.mean(_ratio(tp, fp, fn) for tp, fp, fn in counts if tp + fp > 0)
    recall = statistics.mean(_ratio(tp, fn, fp) for tp, fp, fn in counts if tp + fn > 0)
    return Score(precision, recall, 2 * precision * recall / (precision + recall),
                 sum(not p.strip() for p in predictions))


def _ratio(tp: float, wrong: float, other: float) -> float:
    if wrong == other == 0:
        return 1.0
    return tp / (tp + wrong) if tp + wrong else 0.0


def evaluate(pages: Sequence[Page],
             systems: dict[str, Callable[[Page], str]] | None = None) -> dict[str, tuple[Score, float]]:
    """Each system's Score over `pages` and its wall time in seconds."""
    results = {}
    for name, system in (systems or {"bare trafilatura.extract": bare, "our extract stage": ours}).items():
        started = time.perf_counter()
        predictions = [system(page) for page in pages]
        results[name] = (score([p.truth for p in pages], predictions), time.perf_counter() - started)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    pages = load_pages(args.corpus)
    if not pages:
        print(json.dumps({"pages": 0}) if args.json else f"skipped: no scrapinghub-aeb corpus at {args.corpus}")
        return 0
    results = evaluate(pages)
    if args.json:
        print(json.dumps({"pages": len(pages), "trafilatura": trafilatura.__version__, "systems": {
            name: {**asdict(result), "wall_s": seconds} for name, (result, seconds) in results.items()}}))
        return 0
    print(f"scrapinghub-aeb: {len(pages)} pages, trafilatura {trafilatura.__version__}, "
          f"metric: {SHINGLE}-gram shingles of \\w+ tokens vs articleBody")
    print(f"{'system':<26} {'precision':>9} {'recall':>7} {'F1':>7} {'empty':>6} {'wall s':>8}")
    for name, (result, seconds) in results.items():
        print(f"{name:<26} {result.precision:>9.4f} {result.recall:>7.4f} {result.f1:>7.4f} {result.empty:>6} "
              f"{seconds:>8.1f}")
    (bare_score, _), (our_score, _) = results.values()
    print(f"F1 difference (ours - bare): {our_score.f1 - bare_score.f1:+.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
