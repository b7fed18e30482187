"""Benchmark of near-duplicate check + story assignment per new article against 100,000 stored articles:
SimHashIndex + StoryIndex versus a brute-force scan of every stored article, and the resident memory of
the two indexes (tracemalloc).

Stored articles get their features and fingerprints generated directly (60 days of traffic, stories of
1-8 articles); each NEW article is a ~5 KB text run through the whole pipeline: tokenise + fingerprint +
features (`features`), `SimHashIndex.query`, `StoryIndex.assign`, and both `add`s.

Run: python bench/bench_stories.py            (about a minute; --stored 20000 for a quick look)
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.decide.copies import NEAR_DUPLICATE_BITS, SimHashIndex  # noqa: E402
from monitor.decide.stories import StoryFeatures, StoryIndex, features  # noqa: E402
from monitor.text.lexicon import name_key  # noqa: E402

SEED = 20251213
START = datetime(2025, 10, 1, tzinfo=UTC)
DAYS = 60
_SYLLABLES = ["ka", "ro", "mi", "len", "sta", "vik", "do", "ra", "bel", "no", "tis", "mar", "go", "zen", "lu",
              "ver", "an", "ko", "pol", "dra", "se", "vi", "ha", "tor"]
_FILLER_TEXT = ("the government said on Tuesday that officials would meet again next week to discuss the plan "
           "while critics argued that the decision had been taken without consultation and that more "
           "information was needed before any agreement could be reached by the parties involved")
_FILLER = _FILLER_TEXT.split()


def _word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(parts))


class World:
    """The vocabulary stories are made of: people, places, distinctive terms."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.first = sorted({_word(rng, 2).capitalize() for _ in range(800)})
        self.last = sorted({_word(rng, 3).capitalize() for _ in range(30_000)})
        self.places = sorted({_word(rng, 3).capitalize() for _ in range(400)})
        self.terms = sorted({_word(rng, 3) + rng.choice(("", "ing", "ed", "ion")) for _ in range(8_000)})

    def story(self) -> dict:
        rng = self.rng
        return {
            "people": [f"{rng.choice(self.first)} {rng.choice(self.last)}" for _ in range(rng.randint(3, 7))],
            "places": rng.sample(self.places, rng.randint(1, 3)),
            "head": rng.randint(3, 400) if rng.random() < 0.6 else None,
            "numbers": [rng.randint(3, 5000) for _ in range(rng.randint(1, 4))],
            "terms": rng.sample(self.terms, 14),
        }

    def stored_features(self, story: dict, published: datetime, fp: int) -> StoryFeatures:
        """What `features` would return for an article of `story`, without writing its text."""
        rng = self.rng
        people = rng.sample(story["people"], max(2, len(story["people"]) - 2))
        noise = [f"{rng.choice(self.first)} {rng.choice(self.last)}" for _ in range(rng.randint(1, 4))]
        entities = {k for name in people + noise for k in name_key(name).split()}
        lead = {story["head"]} if story["head"] else set()
        return StoryFeatures(
            entities=frozenset(sorted(entities)[:24]),
            places=frozenset(p.lower() for p in story["places"]),
            numbers=frozenset(lead | set(story["numbers"][:3])),
            lead_numbers=frozenset(lead),
            terms=frozenset(t[:6] for t in rng.sample(story["terms"], 9) + rng.sample(self.terms, 3)),
            published=published, fingerprint=fp, script="latn")

    def text(self, story: dict) -> tuple[str, str]:
        """A ~5 KB article about `story`."""
        rng = self.rng
        head = story["head"]
        person = rng.choice(story["people"])
        title = (f"{person} {rng.choice(story['terms'])} {head or ''} {rng.choice(story['terms'])} "
                 f"in {story['places'][0]}").replace("  ", " ")
        sentences = [f"{person} said in {story['places'][0]} that {head or 'several'} people had been "
                     f"{rng.choice(story['terms'])} after the {rng.choice(story['terms'])}."]
        while sum(len(s) for s in sentences) < 5000:
            words = rng.sample(_FILLER, 12) + rng.sample(story["terms"], 3)
            rng.shuffle(words)
            extra = rng.choice([f"{rng.choice(story['people'])} added", f"officials in {rng.choice(story['places'])}",
                                f"about {rng.choice(story['numbers'])} of them", f"{rng.choice(self.last)} said"])
            sentences.append(" ".join(words).capitalize() + f", {extra}.")
        return title, " ".join(sentences)


def build_stored(world: World, rng: random.Random, count: int):
    """(article_id, story_id, features, published) for `count` stored articles, oldest first."""
    rows = []
    stories = []  # (story, story_id, fingerprint of its first article, its time)
    article_id = 0
    span = DAYS * 86400
    while article_id < count:
        story = world.story()
        base = START + timedelta(seconds=span * article_id / count)
        size = min(count - article_id, 1 + int(rng.expovariate(0.9)))
        story_id = article_id + 1
        first_fp = rng.getrandbits(64)
        for i in range(size):
            article_id += 1
            fp = first_fp if i == 0 else rng.getrandbits(64)
            if i and rng.random() < 0.1:  # a syndicated copy of the first article
                fp = first_fp ^ (1 << rng.randrange(64)) ^ (1 << rng.randrange(64))
            published = base + timedelta(minutes=rng.randint(0, 36 * 60))
            rows.append((article_id, story_id, world.stored_features(story, published, fp), published))
        stories.append((story, story_id, base))
    rows.sort(key=lambda r: r[3])
    return rows, stories


def resident(build) -> tuple[object, int]:
    gc.collect()
    tracemalloc.start()
    obj = build()
    gc.collect()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return obj, size


def brute_force(stored, feats: StoryFeatures) -> tuple[list[int], int | None]:
    """Scan every stored article: near-duplicates by Hamming distance, best story by shared evidence."""
    dups = [a for a, _, f, _ in stored if (f.fingerprint ^ feats.fingerprint).bit_count() <= NEAR_DUPLICATE_BITS]
    mine = set(feats.evidence())
    best, best_story = 0, None
    for _, story_id, f, _ in stored:
        shared = len(mine & f.evidence().keys())
        if shared > best:
            best, best_story = shared, story_id
    return dups, best_story


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=1_000)
    parser.add_argument("--brute", type=int, default=20, help="new articles also timed by brute force")
    args = parser.parse_args()
    rng = random.Random(SEED)
    world = World(rng)

    t0 = time.perf_counter()
    stored, stories = build_stored(world, rng, args.stored)
    print(f"generated {len(stored):,} stored articles in {len(stories):,} stories "
          f"({time.perf_counter() - t0:.1f} s)")

    simhashes, sim_bytes = resident(lambda: SimHashIndex.from_rows((a, f.fingerprint) for a, _, f, _ in stored))
    story_index, story_bytes = resident(lambda: StoryIndex.from_rows(
        (s, f, ("topic",), p) for _, s, f, p in stored))
    end = stored[-1][3]

    def pruned() -> StoryIndex:
        index = StoryIndex.from_rows((s, f, ("topic",), p) for _, s, f, p in stored)
        index.prune(end - timedelta(days=7))
        return index

    kept, kept_bytes = resident(pruned)
    kept_stories = len(kept)
    del kept

    # New articles: half continue stories of the last two days, half are new stories.
    recent = [s for s in stories if s[2] >= end - timedelta(days=2)]
    news = []
    for i in range(args.new):
        story = rng.choice(recent)[0] if i % 2 == 0 else world.story()
        title, text = world.text(story)
        news.append((title, text, end + timedelta(minutes=i)))
    sizes = [len(text.encode()) for _, text, _ in news]

    timings = []
    index_timings = []
    cpu_start = time.process_time()
    next_id = stored[-1][0] + 1
    joined = 0
    for title, text, published in news:
        start = time.perf_counter()
        feats = features(title, text, published)
        indexed = time.perf_counter()
        dups = simhashes.query(feats.fingerprint)
        decision = story_index.assign(feats, ("topic",), published)
        story_id = decision.story_id if decision.story_id is not None else next_id
        simhashes.add(next_id, feats.fingerprint)
        story_index.add(story_id, feats, ("topic",), published)
        done = time.perf_counter()
        timings.append(done - start)
        index_timings.append(done - indexed)
        joined += decision.story_id is not None
        next_id += 1
        del dups
    cpu_ms = (time.process_time() - cpu_start) * 1000 / len(news)

    feature_times = []
    for title, text, published in news[:200]:
        start = time.perf_counter()
        features(title, text, published)
        feature_times.append(time.perf_counter() - start)

    brute_times = []
    for title, text, published in news[:args.brute]:
        start = time.perf_counter()
        brute_force(stored, features(title, text, published))
        brute_times.append(time.perf_counter() - start)

    ms = sorted(t * 1000 for t in timings)
    mean = statistics.fmean(ms)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    brute = statistics.fmean(brute_times) * 1000
    mb = 1024 * 1024
    print(f"new articles: {len(news):,}, mean {statistics.fmean(sizes) / 1024:.1f} KB; "
          f"{joined} joined a story, {len(news) - joined} started one")
    print()
    print("| per new article (100,000 stored)              | mean ms | p95 ms |")
    print("|-----------------------------------------------|--------:|-------:|")
    print(f"| features (tokenise + SimHash + evidence)      | {statistics.fmean(feature_times) * 1000:7.3f} |"
          f" {sorted(feature_times)[int(0.95 * (len(feature_times) - 1))] * 1000:6.3f} |")
    print(f"| whole step: features + near-dup + assign + add | {mean:7.3f} | {p95:6.3f} |")
    index_ms = sorted(t * 1000 for t in index_timings)
    print(f"| of which near-dup query + assign + both adds  | {statistics.fmean(index_ms):7.3f} |"
          f" {index_ms[int(0.95 * (len(index_ms) - 1))]:6.3f} |")
    print(f"| whole step, CPU time (process_time)            | {cpu_ms:7.3f} |        |")
    print(f"| brute-force scan of all stored articles       | {brute:7.1f} |        |")
    print(f"| ratio brute force / indexed                   | {brute / mean:7.0f}x |        |")
    print()
    print("| resident index (tracemalloc)                  |      MB |")
    print("|-----------------------------------------------|--------:|")
    print(f"| SimHashIndex ({len(simhashes):,} fingerprints)        | {sim_bytes / mb:7.1f} |")
    print(f"| StoryIndex, all {len(stored):,} articles kept       | {story_bytes / mb:7.1f} |")
    print(f"| total                                         | {(sim_bytes + story_bytes) / mb:7.1f} |")
    print(f"| StoryIndex after prune(7 days): {kept_stories:,} stories | {kept_bytes / mb:7.1f} |")
    memory_ok = (sim_bytes + story_bytes) / mb < 50
    print(f"\ntargets: < 50 MB resident {'met' if memory_ok else 'NOT met'}; < 2 ms per article "
          f"{'met' if mean < 2.0 else 'NOT met'} for the whole step, "
          f"{'met' if statistics.fmean(index_ms) < 2.0 else 'NOT met'} for the index work")


if __name__ == "__main__":
    main()
