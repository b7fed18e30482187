"""Is this article a copy of one we hold? 64-bit SimHash of the cleaned body, its resident banded index, the
threshold, and the reason a copy gives.

Pure: data in, decisions out; the store keeps fingerprints and a snapshot of the index (`snapshot()` /
`from_snapshot()`: its arrays as bytes, loaded without a scan of the articles or a sort), `from_rows` rebuilds.
Near-duplicate: Hamming <= 9 between SimHashes of the cleaned body (word 3-shingles; template lines dropped):
copies and updates measure 0-5 bits on tests/fixtures/stories.yaml and 3-9 bits for edited copies of 5 KB
texts, distinct reports >= 19. SimHashIndex: 5 blocks of 13/12 bits probed within 1 bit (exact to 9 bits),
3.6 MB at 100,000 (a MinHash LSH would hold 0.5-1 GB).
"""

from __future__ import annotations

import hashlib
import re
import struct
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence

from monitor.models import signed64
from monitor.text.sentences import article_index, clean_text
from monitor.text.tokens import TextIndex

NEAR_DUPLICATE_BITS = 9  # calibrated: see the module docstring and tests/test_stories.py
_SHINGLE = 3
_MIN_BODY_TOKENS = 20  # shorter bodies (summaries) are fingerprinted together with the title
_MASK64 = (1 << 64) - 1


class _TokenHashes(dict):
    """folded token -> stable 60-bit value (blake2b); built once per distinct token."""

    def __missing__(self, token: str) -> int:
        value = self[token] = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little") >> 4
        return value


_TOKEN_HASHES = _TokenHashes()


def simhash(tokens: Sequence[str]) -> int:
    """64-bit SimHash over the distinct word 3-shingles of folded `tokens` (0 for no tokens).

    A shingle's hash is CPython's tuple hash of its three blake2b token hashes: deterministic (ints
    hash to themselves; tuple hashing uses no seed) and computed in C. tests/test_stories.py pins a known
    value, so an interpreter that changed it would be caught (stored fingerprints would then be recomputed).
    """
    if not tokens:
        return 0
    if len(_TOKEN_HASHES) > 500_000:
        _TOKEN_HASHES.clear()
    hashes = list(map(_TOKEN_HASHES.__getitem__, tokens))
    if len(hashes) < _SHINGLE:
        hashes += [0] * (_SHINGLE - len(hashes))
    shingles = set(map(hash, zip(hashes, hashes[1:], hashes[2:], strict=False)))
    half = len(shingles)
    raw = struct.pack(f"<{half}q", *shingles)  # each shingle hash as 8 little-endian bytes
    masks = _bit_masks(half)
    fp = 0
    bit = 0
    for p in range(8):  # byte p of every shingle hash, as one integer; its bit b of each byte, counted at once
        column = int.from_bytes(raw[p::8], "little")
        for mask in masks:
            if (column & mask).bit_count() * 2 > half:
                fp |= 1 << bit
            bit += 1
    return fp & _MASK64


_MASKS: tuple[int, ...] = ()  # per bit b: an integer with bit b of each of its _MASK_BYTES bytes set
_MASK_BYTES = 0


def _bit_masks(n: int) -> tuple[int, ...]:
    """Masks for n bytes read as one little-endian integer (longer ones serve: AND stops at the shorter)."""
    global _MASKS, _MASK_BYTES
    if n > _MASK_BYTES:
        size = max(1024, 1 << (n - 1).bit_length())
        _MASKS = tuple(int.from_bytes(bytes([1 << b]) * size, "little") for b in range(8))
        _MASK_BYTES = size
    return _MASKS


def body_tokens(index: TextIndex) -> list[str]:
    body = index.tokens("lead") + index.tokens("body")
    return body if len(body) >= _MIN_BODY_TOKENS else index.tokens("title") + body


def fingerprint(title: str, text: str) -> int:
    """The article's near-duplicate fingerprint: SimHash of its cleaned body (and title, for a short body).

    The title is left out otherwise because syndicated copies are often re-headlined."""
    return simhash(body_tokens(article_index(title, clean_text(text))))


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def is_near_duplicate(a: int, b: int, bits: int = NEAR_DUPLICATE_BITS) -> bool:
    return (a ^ b).bit_count() <= bits



def copy_reason(original: int, distance: int) -> str:
    """Why an article was folded into a stored one as another source of it."""
    return f"copy of article {original} (SimHash {distance} bits apart): stored as another source of it"


class SimHashIndex:
    """Resident (article_id, fingerprint) pairs answering "which are within `bits` of this one?".

    Pigeonhole over 5 blocks (13, 13, 13, 13 and 12 bits): two fingerprints within 9 bits agree within
    1 bit on at least one block, so each block's table is probed with the block and its one-bit variants
    (70 lookups, ~12 rows per bucket at 100,000, ~120 at 1,000,000). Tables are CSR arrays (bucket starts + row
    numbers, ~0.43 MB per table at 100,000) with, in the same order, 32 bits of each row's fingerprint from
    outside the block (its sketch: 4 bytes a row per table): a bucket's candidates are measured against the
    query all at once, in C (`_within`), and only the few whose sketch is within the distance are looked at one
    by one. Rows added since the last compaction wait in small dicts.
    """

    WIDTHS = (13, 13, 13, 13, 12)
    RADIUS = 1  # per block, so exact for distances <= len(WIDTHS) * (RADIUS + 1) - 1 = 9
    MAX_BITS = len(WIDTHS) * (RADIUS + 1) - 1

    def __init__(self, compact_every: int = 4096):
        self._ids = array("q")
        self._fps = array("q")  # signed view of the 64 bits
        self._blocks = []  # (shift, mask, probe masks)
        shift = 0
        for width in self.WIDTHS:
            self._blocks.append((shift, (1 << width) - 1, (0, *(1 << b for b in range(width)))))
            shift += width
        self._starts: list[array] = [array("I", [0]) * ((1 << w) + 1) for w in self.WIDTHS]
        self._rows: list[array] = [array("I") for _ in self.WIDTHS]
        self._sketches: list[array] = [array("I") for _ in self.WIDTHS]  # per table, in the order of its rows
        self._compacted = 0  # rows [0, _compacted) are in the CSR tables
        self._pending: list[dict[int, list[int]]] = [{} for _ in self.WIDTHS]
        self._compact_every = compact_every
        self._dead: set[int] = set()  # rows of articles deleted or re-fingerprinted since a snapshot
        self._sorted = 0  # rows [0, _sorted) are in article id order (a snapshot's rows): found by bisection

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, int]]) -> SimHashIndex:
        """Build from stored (article_id, fingerprint) rows in one pass."""
        index = cls()
        for article_id, fp in rows:
            index._ids.append(article_id)
            index._fps.append(signed64(fp))
        index._compact()
        return index

    SNAPSHOT_PARTS = ("ids", "fps", *(f"{kind}{b}" for b in range(len(WIDTHS))
                                      for kind in ("starts", "rows", "sketches")))

    def snapshot(self) -> dict[str, bytes]:
        """The index as bytes, for the store to keep: rows of removed articles dropped, rows in article id
        order, every row in the tables (compacted); `from_snapshot` loads it with no sort."""
        order = sorted((row for row in range(len(self._ids)) if row not in self._dead), key=self._ids.__getitem__)
        if self._dead or order != list(range(len(self._ids))):
            self._ids = array("q", map(self._ids.__getitem__, order))
            self._fps = array("q", map(self._fps.__getitem__, order))
            self._dead = set()
            self._compacted = -1  # every table is rebuilt below
        if self._compacted != len(self._ids):
            self._compact()
        self._sorted = len(self._ids)
        parts = {"ids": self._ids.tobytes(), "fps": self._fps.tobytes()}
        for block, (starts, rows, sketches) in enumerate(zip(self._starts, self._rows, self._sketches, strict=True)):
            parts[f"starts{block}"], parts[f"rows{block}"] = starts.tobytes(), rows.tobytes()
            parts[f"sketches{block}"] = sketches.tobytes()
        return parts

    @classmethod
    def from_snapshot(cls, parts: Mapping[str, bytes]) -> SimHashIndex:
        """The index `snapshot` gave, loaded as it was (raises ValueError when a part is missing or torn)."""
        index = cls()
        missing = [name for name in cls.SNAPSHOT_PARTS if name not in parts]
        if missing:
            raise ValueError(f"copy index snapshot without {', '.join(missing)}")
        index._ids.frombytes(parts["ids"])
        index._fps.frombytes(parts["fps"])
        for block, width in enumerate(cls.WIDTHS):
            starts, rows, sketches = array("I"), array("I"), array("I")
            starts.frombytes(parts[f"starts{block}"])
            rows.frombytes(parts[f"rows{block}"])
            sketches.frombytes(parts[f"sketches{block}"])
            if len(starts) != (1 << width) + 1 or not len(rows) == len(sketches) == len(index._ids) \
                    or starts[-1] != len(rows):
                raise ValueError("copy index snapshot with tables that do not match its rows")
            index._starts[block], index._rows[block], index._sketches[block] = starts, rows, sketches
        if len(index._fps) != len(index._ids):
            raise ValueError("copy index snapshot with as many ids as fingerprints")
        index._compacted = index._sorted = len(index._ids)
        return index

    def __len__(self) -> int:
        return len(self._ids) - len(self._dead)

    def add(self, article_id: int, fp: int) -> None:
        row = len(self._ids)
        self._ids.append(article_id)
        self._fps.append(signed64(fp))
        for (shift, mask, _), pending in zip(self._blocks, self._pending, strict=True):
            pending.setdefault((fp >> shift) & mask, []).append(row)
        # pending rows are as quick to probe as compacted ones (a dict lookup per probe), so compaction, a full
        # re-sort, waits until a quarter as many rows are pending as are compacted: adding stays amortised O(1)
        # sorts per row, where a re-sort every 4,096 additions cost O(n) per 4,096 at any size
        if row + 1 - self._compacted >= max(self._compact_every, self._compacted // 4):
            self._compact()

    def remove(self, article_id: int) -> bool:
        """Forget the article (deleted, or about to be re-added with a new fingerprint); False if absent."""
        found = False
        at = bisect_left(self._ids, article_id, 0, self._sorted)
        if at < self._sorted and self._ids[at] == article_id and at not in self._dead:
            self._dead.add(at)
            found = True
        for row in range(self._sorted, len(self._ids)):  # rows added since the snapshot: few
            if self._ids[row] == article_id and row not in self._dead:
                self._dead.add(row)
                found = True
        return found

    def _compact(self) -> None:
        n = len(self._fps)
        for block, (shift, mask, _) in enumerate(self._blocks):
            keys = [(fp >> shift) & mask for fp in self._fps]
            counts = array("I", [0]) * (mask + 2)
            for key in keys:
                counts[key + 1] += 1
            for i in range(1, mask + 2):
                counts[i] += counts[i - 1]
            self._starts[block] = counts
            self._rows[block] = array("I", sorted(range(n), key=keys.__getitem__))
            rotate = shift + self.WIDTHS[block]
            sketches = [(((fp & _MASK64) >> rotate) | (fp << (64 - rotate))) & _SKETCH for fp in self._fps]
            self._sketches[block] = array("I", map(sketches.__getitem__, self._rows[block]))
            self._pending[block] = {}
        self._compacted = n

    def query(self, fp: int, bits: int = NEAR_DUPLICATE_BITS) -> list[tuple[int, int]]:
        """(article_id, distance) of stored fingerprints within `bits` (at most 9) of `fp`, nearest first."""
        if bits > self.MAX_BITS:
            raise ValueError(f"SimHashIndex answers distances up to {self.MAX_BITS}")
        seen: set[int] = set()
        for (shift, mask, probes), starts, rows, sketches, pending in zip(
                self._blocks, self._starts, self._rows, self._sketches, self._pending, strict=True):
            key = (fp >> shift) & mask
            rotate = shift + mask.bit_length()
            spans, at = [], 0  # the buckets' rows, as (first row's place in `rows`, where its lane starts)
            packed = []
            for flip in probes:
                probe = key ^ flip
                lo, hi = starts[probe], starts[probe + 1]
                if lo != hi:
                    spans.append((lo, at))
                    packed.append(sketches[lo:hi])
                    at += hi - lo
                if pending:
                    more = pending.get(probe)
                    if more:
                        seen.update(more)
            if at:
                lanes = [span for span, _ in spans]
                ats = [lane_at for _, lane_at in spans]
                for lane in _within(b"".join(map(array.tobytes, packed)),
                                    (((fp & _MASK64) >> rotate) | (fp << (64 - rotate))) & _SKETCH, bits):
                    k = bisect_left(ats, lane + 1) - 1  # the bucket the lane is in
                    seen.add(rows[lanes[k] + lane - ats[k]])
        if self._dead:
            seen -= self._dead
        signed, fps, ids = signed64(fp), self._fps, self._ids
        found = [(ids[row], d) for row in seen if (d := ((fps[row] ^ signed) & _MASK64).bit_count()) <= bits]
        found.sort(key=lambda pair: (pair[1], pair[0]))
        return found


# a table's sketch of a fingerprint: the 32 bits after its block (cyclically), none of the block's own; two
# fingerprints within 9 bits have sketches within 9 bits, and a random one's is within 9 of it 1 time in 100
_SKETCH = (1 << 32) - 1
_WITHIN = [re.compile(rb"[\x00-\x%02x]" % bits) for bits in range(33)]  # a lane's count of differing bits
_LANE_MASKS: tuple[int, int, int] = (0, 0, 0)  # 0x55.., 0x33.., 0x0f.. as long integers (an AND stops at the shorter)
_LANE_BYTES = 0


def _within(packed: bytes, sketch: int, bits: int) -> list[int]:
    """The lanes of `packed` (32-bit sketches, little-endian) within `bits` of `sketch`: every lane XORed with it
    and its bits counted at once, on one long integer (the SWAR popcount), then each lane's count read off."""
    global _LANE_MASKS, _LANE_BYTES
    n = len(packed)
    if n > _LANE_BYTES:
        size = max(1 << 16, 1 << (n - 1).bit_length())
        _LANE_MASKS = tuple(int.from_bytes(bytes([b]) * size, "little") for b in (0x55, 0x33, 0x0F))
        _LANE_BYTES = size
    m1, m2, m4 = _LANE_MASKS
    x = int.from_bytes(packed, "little") ^ int.from_bytes(sketch.to_bytes(4, "little") * (n // 4), "little")
    x -= (x >> 1) & m1
    x = (x & m2) + ((x >> 2) & m2)
    x = (x + (x >> 4)) & m4  # each byte: how many of its bits differ (0-8)
    x += x >> 8
    x += x >> 16  # each lane's low byte: how many of its 32 bits differ (no byte ever carries into the next)
    counts = x.to_bytes(n + 4, "little")[:n:4]
    return [m.start() for m in _WITHIN[bits].finditer(counts)]
