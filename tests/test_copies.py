"""Near-duplicate fingerprints and the SimHash index, measured on the labelled set in
tests/fixtures/stories.yaml (distances printed with -s)."""

from __future__ import annotations

import itertools
import random

import pytest

from monitor.decide.copies import NEAR_DUPLICATE_BITS, SimHashIndex, fingerprint, hamming, is_near_duplicate
from tests.helpers import ARTICLES, BY_ID

FINGERPRINTS = {a["id"]: fingerprint(a["title"], a["text"]) for a in ARTICLES}
COPIES = [(a["id"], a["copy_of"]) for a in ARTICLES if a.get("copy_of")]


def _is_copy_pair(a: dict, b: dict) -> bool:
    root_a, root_b = a.get("copy_of", a["id"]), b.get("copy_of", b["id"])
    return root_a == root_b


@pytest.mark.parametrize(("copy", "original"), COPIES)
def test_syndicated_copies_and_updates_are_near_duplicates(copy, original):
    distance = hamming(FINGERPRINTS[copy], FINGERPRINTS[original])
    print(f"{copy} ~ {original}: {distance} bits")
    assert is_near_duplicate(FINGERPRINTS[copy], FINGERPRINTS[original]), distance


def test_no_other_pair_is_a_near_duplicate():
    distances = sorted((hamming(FINGERPRINTS[a["id"]], FINGERPRINTS[b["id"]]), a["id"], b["id"])
                       for a, b in itertools.combinations(ARTICLES, 2) if not _is_copy_pair(a, b))
    print(f"closest distinct pair: {distances[0]}")
    # a margin of more than twice the threshold between reports of one event and the copies
    assert distances[0][0] > 2 * NEAR_DUPLICATE_BITS


def test_fingerprint_is_stable_across_processes():
    # Pinned: stored fingerprints must stay comparable; a change here means recomputing them.
    assert fingerprint("t", "Belarus released 52 prisoners on Thursday after a visit to Minsk.") == 0x1CF0A0223070A723


def test_fingerprint_ignores_headline_and_template_lines():
    body = BY_ID["a1-northwire"]["text"]
    assert fingerprint("Another headline", "Connect with us\n" + body + "\nRead more: other things here") == \
        fingerprint(BY_ID["a1-northwire"]["title"], body)


def test_simhash_index_matches_brute_force():
    rng = random.Random(7)
    stored = [(i, rng.getrandbits(64)) for i in range(3000)]
    for i in range(200):  # planted neighbours at 0..9 bits
        base = stored[rng.randrange(3000)][1]
        for bit in rng.sample(range(64), i % 10):
            base ^= 1 << bit
        stored.append((10_000 + i, base))
    index = SimHashIndex.from_rows(stored[:2500])
    for article_id, fp in stored[2500:]:
        index.add(article_id, fp)  # some compacted, some pending
    assert len(index) == len(stored)
    for _, fp in stored[::37] + stored[-200:]:
        expected = sorted(((a, hamming(fp, f)) for a, f in stored if hamming(fp, f) <= NEAR_DUPLICATE_BITS),
                          key=lambda pair: (pair[1], pair[0]))
        assert index.query(fp) == expected


def test_simhash_index_refuses_distances_it_cannot_guarantee():
    with pytest.raises(ValueError):
        SimHashIndex().query(0, bits=NEAR_DUPLICATE_BITS + 1)


def _query_one_by_one(index: SimHashIndex, fp: int, bits: int = NEAR_DUPLICATE_BITS) -> list[tuple[int, int]]:
    """SimHashIndex.query before the sketches, kept as the spec: every candidate row's distance computed alone."""
    seen: set[int] = set()
    for (shift, mask, probes), starts, rows, pending in zip(index._blocks, index._starts, index._rows,
                                                             index._pending, strict=True):
        key = (fp >> shift) & mask
        for flip in probes:
            lo, hi = starts[key ^ flip], starts[(key ^ flip) + 1]
            seen.update(rows[lo:hi])
            seen.update(pending.get(key ^ flip, ()))
    seen -= index._dead
    found = [(index._ids[row], d) for row in seen if (d := hamming(fp, index._fps[row] & (2 ** 64 - 1))) <= bits]
    return sorted(found, key=lambda pair: (pair[1], pair[0]))


def test_the_sketched_query_answers_as_every_candidate_measured_alone():
    """Candidates measured at once by their sketches (32 bits from outside the block) find what measuring each
    candidate's whole fingerprint finds: compacted and pending rows, removed ones, from a snapshot, any distance."""
    rng = random.Random(11)
    stored = [(i, rng.getrandbits(64)) for i in range(60_000)]
    probes = []
    for i in range(400):  # neighbours at 0..11 bits, some of them planted in the index
        fp = stored[rng.randrange(len(stored))][1]
        for bit in rng.sample(range(64), i % 12):
            fp ^= 1 << bit
        probes.append(fp)
        if i % 3 == 0:
            stored.append((100_000 + i, fp ^ (1 << rng.randrange(64))))
    index = SimHashIndex.from_rows(stored[:50_000])
    for article_id, fp in stored[50_000:]:
        index.add(article_id, fp)
    for article_id, _ in stored[::97]:
        index.remove(article_id)
    loaded = SimHashIndex.from_snapshot(index.snapshot())
    found = 0
    for fp in probes + [rng.getrandbits(64) for _ in range(100)]:
        for bits in (NEAR_DUPLICATE_BITS, 3, 0):
            expected = _query_one_by_one(index, fp, bits)
            assert index.query(fp, bits) == expected == loaded.query(fp, bits)
            found += len(expected)
    assert found > 400
