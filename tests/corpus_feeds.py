"""Robustness run over the feed corpora in ../shared/corpora: every feed-like file is served from a loopback
HTTP server and taken through the real path (Fetcher.fetch_many, then parse_feed). Prints, per corpus, how
many files parsed (with entries or empty), how many were rejected and why, exceptions that escaped (any that
is not a MonitorError), the slowest parse and peak RSS.

    python tests/corpus_feeds.py [--corpus NAME] [--list]

tests/test_corpus_feeds.py runs it and checks the per-corpus totals.

Which files count as feeds: the suffixes in FEED_SUFFIXES, plus the HTML pages and the suffix-less file
(lemon24's `custom`) that these corpora keep as "served where a feed should be" cases; not LICENSE, SOURCE.json,
MANIFEST.sha256, expected outputs (rss-parser test/output/*.json, feed-rs *.serde.json, miniflux *-result).
feedparser's files are served with the `Header:` lines of their annotation, Content-Type text/xml by default,
as feedparser's own harness serves them.
"""

from __future__ import annotations

import argparse
import codecs
import gzip
import re
import resource
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor.config import FetchConfig  # noqa: E402
from monitor.errors import MonitorError  # noqa: E402
from monitor.feeds import parse_feed  # noqa: E402
from monitor.fetch import Fetcher, Request  # noqa: E402
from monitor.models import Feed, FeedItem  # noqa: E402

CORPORA_DIR = ROOT.parent / "shared" / "corpora"
CORPORA = ("feedparser", "miniflux", "rss-parser", "feed-rs", "node-feedparser", "feedjira", "lemon24-reader")
FEED_SUFFIXES = {".xml", ".rss", ".atom", ".rdf", ".json", ".feed", ".html", ""}
SKIP_NAMES = {"SOURCE.json", "MANIFEST.sha256"}
BATCH = 250  # requests per fetch_many call: each call is one asyncio run with one session

_TYPES = {".rss": "application/rss+xml", ".atom": "application/atom+xml", ".rdf": "application/rdf+xml",
          ".xml": "application/xml", ".json": "application/feed+json", ".html": "text/html",
          ".feed": "application/xml"}
# Files a server would send compressed: node-feedparser's compressed.xml is the gzip of iconv.xml.
_GZIP = {("node-feedparser", "test/feeds/compressed.xml")}


@dataclass(frozen=True)
class CorpusFile:
    corpus: str
    path: str  # relative to the corpus directory, with forward slashes
    body: bytes
    headers: dict[str, str]

    @property
    def url_path(self) -> str:
        return "/" + quote(f"{self.corpus}/{self.path}")


@dataclass
class FileResult:
    file: CorpusFile
    outcome: str  # "parsed", "rejected" or "escaped"
    items: list[FeedItem] = field(default_factory=list)
    reason: str = ""  # rejection class, or the escaped exception's type
    message: str = ""
    seconds: float = 0.0  # parse wall time (the fetch is not counted)
    rss_after_kb: int = 0


@dataclass
class RunReport:
    results: list[FileResult]
    rss_before_kb: int
    rss_peak_kb: int
    seconds: float

    def by_corpus(self) -> dict[str, list[FileResult]]:
        groups: dict[str, list[FileResult]] = {}
        for result in self.results:
            groups.setdefault(result.file.corpus, []).append(result)
        return groups


# -- which files, with which headers -------------------------------------------------------------


def is_feed_file(corpus: str, rel: str) -> bool:
    path = Path(rel)
    name = path.name
    if name in SKIP_NAMES or name.startswith("LICENSE") or path.suffix not in FEED_SUFFIXES:
        return False
    if name.endswith(".serde.json"):  # feed-rs ground truth
        return False
    return not (corpus == "rss-parser" and rel.startswith("test/output/"))  # rss-parser ground truth


def discover(root: Path = CORPORA_DIR, corpora: Iterable[str] = CORPORA) -> list[CorpusFile]:
    """Every feed-like file of the named corpora, sorted, with the response headers it is served with."""
    files = []
    for corpus in corpora:
        base = root / corpus
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(base).as_posix()
            if not is_feed_file(corpus, rel):
                continue
            raw = path.read_bytes()
            body, headers = raw, response_headers(corpus, rel, raw)
            if (corpus, rel) in _GZIP:
                body = gzip.compress(raw) if raw[:2] != b"\x1f\x8b" else raw
                headers["Content-Encoding"] = "gzip"
            files.append(CorpusFile(corpus, rel, body, headers))
    return files


_HEADER_LINE = re.compile(r"^Header:\s+([^:]+):(.*)$", re.MULTILINE)  # feedparser's tests/helpers.py


def annotation_text(raw: bytes) -> str:
    """A feedparser test file decoded as its harness decodes it: BOM or UTF-16/32 layout, else UTF-8."""
    for bom, codec in ((codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF32_LE, "utf-32-le"),
                       (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                       (codecs.BOM_UTF8, "utf-8")):
        if raw.startswith(bom):
            return raw[len(bom):].decode(codec, "ignore")
    for marker, codec in ((b"\x00\x00\x00\x3c", "utf-32-be"), (b"\x3c\x00\x00\x00", "utf-32-le"),
                          (b"\x00\x3c\x00\x3f", "utf-16-be"), (b"\x3c\x00\x3f\x00", "utf-16-le")):
        if raw.startswith(marker):
            return raw.decode(codec, "ignore")
    return raw.decode("utf-8", "ignore")


def annotation(raw: bytes) -> dict[str, str]:
    """Description / Expect / SkipUnless of a feedparser test file ('' when absent)."""
    text = annotation_text(raw)
    found = re.search(r"Description:\s*(.*?)\s*Expect:\s*(.*)\s*-->", text)
    skip = re.search(r"SkipUnless:\s*(.*?)\n", text)
    return {"description": found.group(1) if found else "", "expect": found.group(2).strip() if found else "",
            "skip_unless": skip.group(1).strip() if skip else ""}


def response_headers(corpus: str, rel: str, raw: bytes) -> dict[str, str]:
    if corpus == "feedparser":
        headers = {name.strip(): value.strip() for name, value in _HEADER_LINE.findall(annotation_text(raw))}
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "text/xml"
        return headers
    return {"Content-Type": _TYPES.get(Path(rel).suffix, "application/octet-stream")}


# -- serving --------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 overflows with 16 concurrent connects: 1 s SYN retries


@contextmanager
def serve(files: Sequence[CorpusFile]) -> Iterator[str]:
    """A loopback HTTP server (thread) answering each file at its url_path; yields the base URL."""
    table = {f.url_path: f for f in files}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave at once, not 40 ms apart (delayed ACK)
        wbufsize = -1

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            found = table.get(quote(unquote(self.path.split("?")[0])))
            status, headers, body = (200, found.headers, found.body) if found else (404, {}, b"not found")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# -- running ---------------------------------------------------------------------------------------


def rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux


def reason_class(message: str) -> str:
    """"feeds: <url>: not a feed (<unknown>:2:0: syntax error)" -> "not a feed: syntax error"."""
    stage, _, rest = message.partition(": ")
    if stage in ("feeds", "fetch") and rest.startswith("http"):
        rest = rest.partition(": ")[2]
    head, _, detail = rest.partition(" (")
    detail = re.sub(r"^<unknown>:\d+:\d+:\s*", "", detail.rstrip(")"))
    detail = re.split(r"[:(]", detail, maxsplit=1)[0].strip()
    words = " ".join(detail.split()[:6])
    label = f"{head}: {words}" if words else head
    return label if stage == "feeds" else f"{stage}: {label}"


def run(files: Sequence[CorpusFile], config: FetchConfig | None = None) -> RunReport:
    """Serve the files, fetch them in batches, parse each; never raises for one file's failure."""
    config = config or FetchConfig(allow_private_networks=True, concurrency=16, per_host=16, deadline=30)
    fetcher = Fetcher(config)
    results: list[FileResult] = []
    before = rss_kb()
    started = time.monotonic()
    with serve(files) as base:
        for start in range(0, len(files), BATCH):
            batch = files[start:start + BATCH]
            outcomes = fetcher.fetch_many([Request(base + f.url_path, "feed") for f in batch])
            for file, outcome in zip(batch, outcomes, strict=True):
                results.append(_parse_one(file, outcome))
    return RunReport(results, before, rss_kb(), time.monotonic() - started)


def _parse_one(file: CorpusFile, outcome) -> FileResult:
    if outcome.error is not None:
        return FileResult(file, "rejected", reason=reason_class(str(outcome.error)), message=str(outcome.error))
    response = outcome.response
    feed = Feed(url=outcome.request.url, name=file.path, interval=900)
    started = time.perf_counter()
    try:
        items = parse_feed(feed, response.body, response.headers, url=response.url)
        result = FileResult(file, "parsed", items=items)
    except MonitorError as exc:
        result = FileResult(file, "rejected", reason=reason_class(str(exc)), message=str(exc))
    except Exception as exc:  # the failure this run exists to find: count it, print it, go on
        result = FileResult(file, "escaped", reason=type(exc).__name__,
                            message="".join(traceback.format_exception_only(exc)).strip())
    result.seconds = time.perf_counter() - started
    result.rss_after_kb = rss_kb()
    return result


# -- reporting -------------------------------------------------------------------------------------


def summary(results: Sequence[FileResult]) -> dict[str, object]:
    """The numbers the test asserts: files, parsed (with entries / empty), rejected by class, escaped."""
    parsed = [r for r in results if r.outcome == "parsed"]
    return {
        "files": len(results),
        "with_entries": sum(1 for r in parsed if r.items),
        "empty": sum(1 for r in parsed if not r.items),
        "rejected": dict(sorted(Counter(r.reason for r in results if r.outcome == "rejected").items())),
        "escaped": sum(1 for r in results if r.outcome == "escaped"),
    }


def print_report(report: RunReport, out=sys.stdout) -> None:
    groups = report.by_corpus()
    line = "{:<16} {:>6} {:>8} {:>6} {:>9} {:>8}  {:<52} {:>8}"
    print(line.format("corpus", "files", "entries", "empty", "rejected", "escaped", "slowest parse", "seconds"),
          file=out)
    for corpus, results in groups.items():
        s = summary(results)
        slowest = max(results, key=lambda r: r.seconds)
        print(line.format(corpus, s["files"], s["with_entries"], s["empty"], sum(s["rejected"].values()),
                          s["escaped"], slowest.file.path[-52:], f"{slowest.seconds:.3f}"), file=out)
        for reason, count in s["rejected"].items():
            print(f"{'':<18}rejected {count:>4}  {reason}", file=out)
        for result in results:
            if result.outcome == "escaped":
                print(f"{'':<18}ESCAPED  {result.file.path}: {result.message}", file=out)
    total = summary(report.results)
    print(f"total: {total['files']} files, {total['with_entries']} with entries, {total['empty']} empty, "
          f"{sum(total['rejected'].values())} rejected, {total['escaped']} escaped; "
          f"{report.seconds:.1f}s; peak RSS {report.rss_peak_kb / 1024:.0f} MB "
          f"(+{(report.rss_peak_kb - report.rss_before_kb) / 1024:.0f} MB during the run)", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", action="append", choices=CORPORA, help="only this corpus (repeatable)")
    parser.add_argument("--list", action="store_true", help="print each file's outcome too")
    args = parser.parse_args(argv)
    if not CORPORA_DIR.is_dir():
        print(f"{CORPORA_DIR} is not present", file=sys.stderr)
        return 2
    files = discover(corpora=args.corpus or CORPORA)
    report = run(files)
    if args.list:
        for r in report.results:
            entries = len(r.items) if r.outcome == "parsed" else "-"
            print(f"{r.outcome:<8} {entries!s:>4} {r.seconds:6.3f}s {r.file.corpus}/{r.file.path}  {r.reason}")
    print_report(report)
    return 1 if any(r.outcome == "escaped" for r in report.results) else 0


if __name__ == "__main__":
    sys.exit(main())
