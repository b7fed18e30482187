"""The scrapinghub article-extraction-benchmark corpus (../shared/corpora/scrapinghub-aeb) read as pages with their
ground truth: shared by the extraction tests and bench/extract_quality.py."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "scrapinghub-aeb"


@dataclass(frozen=True)
class Page:
    key: str
    url: str
    html: bytes  # as served; every page of this corpus is UTF-8
    truth: str  # the annotated articleBody


def load_pages(corpus: Path = CORPUS) -> list[Page]:
    """Every page of the corpus with its ground truth, in key order (empty when the corpus is absent)."""
    truth_file = corpus / "ground-truth.json"
    if not truth_file.is_file():
        return []
    truth = json.loads(truth_file.read_text(encoding="utf-8"))
    return [Page(key, entry["url"], gzip.decompress((corpus / "html" / f"{key}.html.gz").read_bytes()),
                 entry["articleBody"]) for key, entry in sorted(truth.items())]
