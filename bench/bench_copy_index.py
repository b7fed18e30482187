"""The copy index's load and growth at N stored fingerprints: a rebuild by scan (what every process that stored
articles paid before) against the snapshot the store keeps (`Store.copy_index`), and 20,000 additions with the
amortised compaction against a full re-sort every 4,096 additions (the former rule); and 2,000 copy lookups, the
candidates measured at once by their sketches against each candidate measured alone (the former query). CPU seconds.

    python bench/bench_copy_index.py [--sizes 100000,1000000]

The store is a scratch database in the temp directory holding only ids and random fingerprints.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.decide.copies import SimHashIndex  # noqa: E402
from monitor.models import signed64  # noqa: E402
from monitor.store import Store  # noqa: E402

MASK64 = (1 << 64) - 1
INSERT = "INSERT INTO articles (id, first_seen, fingerprint) VALUES (?, '2026-12-01T00:00:00Z', ?)"


def cpu(step) -> float:
    started = time.process_time()
    step()
    return time.process_time() - started


def former_add(index: SimHashIndex, article_id: int, fp: int) -> None:
    """SimHashIndex.add as it was: every 4,096 additions, the whole index re-sorted."""
    row = len(index._ids)
    index._ids.append(article_id)
    index._fps.append(signed64(fp))
    for (shift, mask, _), pending in zip(index._blocks, index._pending, strict=True):
        pending.setdefault((fp >> shift) & mask, []).append(row)
    if row + 1 - index._compacted >= 4096:
        index._compact()


def former_query(index: SimHashIndex, fp: int) -> list[tuple[int, int]]:
    """SimHashIndex.query as it was: every candidate row's distance computed alone, in Python."""
    seen: set[int] = set()
    for (shift, mask, probes), starts, rows, pending in zip(index._blocks, index._starts, index._rows,
                                                             index._pending, strict=True):
        key = (fp >> shift) & mask
        for flip in probes:
            seen.update(rows[starts[key ^ flip]:starts[(key ^ flip) + 1]])
            seen.update(pending.get(key ^ flip, ()))
    seen -= index._dead
    signed = signed64(fp)
    found = [(index._ids[row], d) for row in seen if (d := ((index._fps[row] ^ signed) & MASK64).bit_count()) <= 9]
    return sorted(found, key=lambda pair: (pair[1], pair[0]))


def measure(n: int, folder: Path) -> None:
    rng = random.Random(n)
    path = folder / f"copy-index-{n}.db"
    with Store.open(path) as store, store.transaction():
        store.db.conn.executemany(INSERT, ((i, signed64(rng.getrandbits(64))) for i in range(1, n + 1)))
    with Store.open(path) as store:
        rebuilt = cpu(lambda: SimHashIndex.from_rows(store.fingerprints()))
        print(f"{n:>9,}  rebuild by scan (before)           {rebuilt:6.3f} s")
        print(f"{n:>9,}  first load: scan, build, keep      {cpu(store.copy_index):6.3f} s")
    with Store.open(path) as store:  # another process
        print(f"{n:>9,}  load from the kept snapshot        {cpu(store.copy_index):6.3f} s")
        with store.transaction():
            store.db.conn.executemany(INSERT, ((i, signed64(rng.getrandbits(64))) for i in range(n + 1, n + 2001)))
        print(f"{n:>9,}  snapshot + 2,000 stored after it   {cpu(store.copy_index):6.3f} s")
        index, former = store.copy_index(), SimHashIndex.from_rows(store.fingerprints())
        fps = [rng.getrandbits(64) for _ in range(20_000)]
        added = cpu(lambda: [index.add(n + 10_000 + i, fp) for i, fp in enumerate(fps)])
        resorted = cpu(lambda: [former_add(former, n + 10_000 + i, fp) for i, fp in enumerate(fps)])
        print(f"{n:>9,}  20,000 additions: amortised {added:.3f} s, re-sort every 4,096 {resorted:.3f} s")
        probes = [fp ^ (1 << rng.randrange(64)) for fp in fps[:1000]] + [rng.getrandbits(64) for _ in range(1000)]
        sketched = cpu(lambda: [index.query(fp) for fp in probes])
        alone = cpu(lambda: [former_query(index, fp) for fp in probes])
        print(f"{n:>9,}  a copy lookup: {1000 * sketched / len(probes):.3f} ms, each candidate alone (before) "
              f"{1000 * alone / len(probes):.3f} ms ({alone / sketched:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated numbers of fingerprints")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for n in map(int, args.sizes.split(",")):
            measure(n, Path(folder))


if __name__ == "__main__":
    main()
