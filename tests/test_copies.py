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
