"""End-to-end benchmark: the monitor as users run it (a `news-monitor run --once` subprocess per cycle, and
`digest --dry-run` / `rules backtest` as commands) against the bare libraries on the same bytes, in one run.

A server in its own process (its CPU is not counted) serves the real pages of ../shared/corpora/scrapinghub-aeb
behind generated RSS feeds, full-content feeds carrying the same articles' text, and N generated standing feeds.
Every figure counts the CPU of every descendant of the measured command, extraction workers included: they fork
from a fork server that the command does not reap, so a meter process made a child subreaper
(prctl PR_SET_CHILD_SUBREAPER) inherits and reaps them all, then reads RUSAGE_CHILDREN.

    python bench/e2e.py [--feeds 10000] [--articles 181] [--stored 100000] [--items 2] [--only PARTS]

Parts: real, full (new articles), standing (unchanged cycle, first-poll memory), config, and on a large store
of --stored articles: fixed (`run --once` and the service's start until its first tick, CPU and peak memory,
against an empty store), digest, backtest (--backtest-days N: only the last N days), reads (status, feeds,
hits, outbox, search with many, one and no matches, prune --dry-run; then `prune --dry-run` and `prune` the day
after a first prune, as the service's daily prune runs). Long commands say what runs, each minute.

--stored fills a store through the project's own code (Store.add_article, features(), match_article) once
and keeps it as a template in the temp directory (--cache); 1,000,000 takes a while the first time.
Figures are ratios from this one run; the machine is shared, so run it twice (for real pages and the unchanged
cycles, --repeats N measures both sides N times, taking turns, and compares the least of each; the unchanged
cycles' fixed cost, an empty store's `run --once`, is measured beside each repeat too).

The bare baseline runs feedparser and trafilatura with the options the monitor gives them (FEEDPARSER_OPTIONS,
TRAFILATURA_OPTIONS), timed around their work; the time to import them is printed beside it. The monitor package
the commands import is byte-compiled first, as `pip install` leaves it: from a source checkout with
PYTHONDONTWRITEBYTECODE set, each process (the extraction fork server too) would otherwise compile every monitor
module it imports, and the modules only a cycle with new articles loads would count as per-article work.
"""

from __future__ import annotations

import argparse
import compileall
import functools
import hashlib
import json
import multiprocessing
import os
import pickle
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
CONCURRENCY, PER_HOST = 50, 8  # the fetch limits of the monitor and of bare aiohttp alike
ITEMS_PER_FEED = 10  # real-page and full-content feeds

# Our own sentences (the corpus pages are about other things): they make some articles hit the rules, so the
# story, release and alert stages run for them as they would for an analyst's feeds.
TOPIC_LEADS = [
    "Authorities in Minsk released {n} political prisoners on Thursday after a pardon signed by Lukashenko, "
    "the Viasna human rights centre said, and several of them were driven to the Lithuanian border.",
    "A court in Homel sentenced an opposition journalist to {n} years in a penal colony for comments on "
    "social media, rights defenders at Viasna reported on Monday.",
    "Belarus and Russia opened the Zapad military exercise with {n} thousand troops near the Lithuanian and "
    "Polish borders, the defence ministry in Minsk said.",
    "The European Union extended sanctions on Belarus for another year over the repression of the opposition "
    "and {n} new names were added to the list, diplomats in Brussels said.",
    "John Coale, the US envoy to Belarus, met Lukashenko in Minsk for talks on prisoners and sanctions, "
    "and {n} detainees were freed hours later, his office said.",
]


# -- content ---------------------------------------------------------------------------------------

def load_pages() -> list[tuple[str, bytes]]:
    from bench.extract_quality import load_pages as corpus_pages
    return [(p.key, p.html) for p in corpus_pages()]


def topic_lead(i: int) -> str | None:
    """Every fourth article opens with one of our topic sentences."""
    return TOPIC_LEADS[(i // 4) % len(TOPIC_LEADS)].format(n=12 + i % 40) if i % 4 == 0 else None


def page_bytes(pages, i: int) -> bytes:
    key, html = pages[i % len(pages)]
    lead = topic_lead(i)
    if lead is None:
        return html
    # the sentence goes in as the article's first paragraph, where an editor would put it
    marker = html.find(b"<p")
    return html[:marker] + f"<p>{lead}</p>".encode() + html[marker:] if marker >= 0 else html


def real_feed(base: str, k: int, articles: int) -> bytes:
    """Feed k of the real-page feeds: ITEMS_PER_FEED items linking to pages served next to it."""
    entries = "".join(
        f"<item><title>Report {i}</title><link>{base}/page/{i}.html</link><guid>{base}/page/{i}.html</guid>"
        f"<pubDate>Tue, 01 Dec 2026 {i % 24:02d}:{i % 60:02d}:00 GMT</pubDate>"
        f"<description>Short teaser of report {i}.</description></item>"
        for i in range(k * ITEMS_PER_FEED, min(articles, (k + 1) * ITEMS_PER_FEED)))
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Real {k}</title>"
            f"<link>{base}/</link><description>d</description>{entries}</channel></rss>").encode()


def full_feed(base: str, k: int, texts: list[str]) -> bytes:
    """Feed k of the full-content feeds: each item carries its article's whole text (content:encoded)."""
    def body(i: int) -> str:
        paragraphs = "".join(f"<p>{p}</p>" for p in texts[i].split("\n") if p.strip())
        return paragraphs.replace("]]>", "]] >")
    entries = "".join(
        f"<item><title>Full report {i}</title><link>https://full{i % 37}.example/{i}.html</link>"
        f"<guid>https://full{i % 37}.example/{i}.html</guid>"
        f"<pubDate>Tue, 01 Dec 2026 {i % 24:02d}:{i % 60:02d}:00 GMT</pubDate>"
        f"<content:encoded><![CDATA[{body(i)}]]></content:encoded></item>"
        for i in range(k * ITEMS_PER_FEED, min(len(texts), (k + 1) * ITEMS_PER_FEED)))
    return ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0' "
            "xmlns:content='http://purl.org/rss/1.0/modules/content/'><channel>"
            f"<title>Full {k}</title><link>https://full.example/</link><description>d</description>{entries}"
            "</channel></rss>").encode()


_WORD_LIST = ("border trade talks freight queue customs officials ministry schedule crossing rail grain fertiliser "
          "potash transit corridor licence tariff quota inspection delegation envoy summit parliament budget "
          "energy pipeline electricity grid harbour airport airline visa permit embassy consulate court "
          "election campaign mayor council school hospital farmers prices inflation bank currency loan")
_WORDS = _WORD_LIST.split()


def standing_feed(n: int, items: int) -> bytes:
    """Standing feed n: `items` short items about the region (no page is fetched for them); each item's
    words are drawn for it, so items are distinct articles, not copies of one another."""
    def brief(i: int) -> str:
        rng = random.Random(n * 1000 + i)
        return " ".join(rng.choice(_WORDS) for _ in range(30))
    entries = "".join(
        f"<item><title>Outlet {n % 97} brief {n}-{i}: {brief(i + 500)[:60]}</title>"
        f"<link>https://outlet{n % 97}.example/{n}/{i}.html</link><guid isPermaLink='false'>s{n}-{i}</guid>"
        f"<pubDate>Tue, 01 Dec 2026 {i % 24:02d}:00:00 GMT</pubDate>"
        f"<description>Brief {i} of outlet {n}: {brief(i)}.</description></item>"
        for i in range(items))
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Standing {n}</title>"
            f"<link>https://outlet{n % 97}.example/</link><description>d</description>{entries}</channel></rss>"
            ).encode()


def etag_of(body: bytes) -> str:
    return '"' + hashlib.md5(body).hexdigest() + '"'


# -- the server (its own process) ------------------------------------------------------------------

def serve(ports: list[int], spec: dict, mode, ready) -> None:
    """Answers /std/N.xml, /real/K.xml, /page/I.html and /full/K.xml; validators honoured while mode is 1."""
    import asyncio

    from aiohttp import web

    pages = spec["pages"]
    cache: dict[str, tuple[bytes, str, str]] = {}

    def make(path: str, base: str) -> tuple[bytes, str] | None:
        kind, _, name = path.strip("/").partition("/")
        number = int(name.split(".")[0])
        if kind == "std":
            return standing_feed(number, spec["items"]), "application/rss+xml"
        if kind == "real":
            return real_feed(base, number, spec["articles"]), "application/rss+xml"
        if kind == "full":
            return full_feed(base, number, spec["texts"]), "application/rss+xml"
        if kind == "page":
            return page_bytes(pages, number), "text/html; charset=utf-8"
        return None

    async def handle(request: web.Request) -> web.Response:
        path = request.path
        if path not in cache:
            made = make(path, f"http://{request.host}")
            if made is None:
                return web.Response(status=404)
            cache[path] = (made[0], etag_of(made[0]), made[1])
        body, etag, content_type = cache[path]
        if mode.value == 1 and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, headers={"ETag": etag, "Content-Type": content_type})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{kind}/{name}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for host in HOSTS:
            for port in ports:
                await web.TCPSite(runner, host, port, backlog=2048).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def free_ports(count: int) -> list[int]:
    import socket
    socks = [socket.socket() for _ in range(count)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


# -- measuring a command with every descendant ----------------------------------------------------------

METER = r"""
import ctypes, json, os, re, resource, subprocess, sys, threading, time
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come to us
cmd, out_path = json.loads(sys.argv[1]), sys.argv[2]
started = time.perf_counter()
child = subprocess.Popen(cmd, stdout=open(out_path + ".stdout", "wb"), stderr=open(out_path + ".stderr", "wb"))
peak, ended = [0], threading.Event()
def watch():  # VmHWM of the command's own process (the monitor's main process), sampled until it ends
    while not ended.is_set():  # not child.poll(): that would reap it, and its own CPU figure with it
        try:
            peak[0] = max(peak[0], int(re.search(r"VmHWM:\s+(\d+)", open(f"/proc/{child.pid}/status").read())[1]))
        except (OSError, TypeError):
            pass
        time.sleep(0.02)
watcher = threading.Thread(target=watch, daemon=True)
watcher.start()
code, wall, others = None, None, []
while True:  # the command, then the fork server and its workers reparented to us: reaped, so their CPU is counted
    try:
        pid, status, usage = os.wait4(-1, 0)  # each one's CPU with that of the processes it reaped itself
    except ChildProcessError:
        break
    if pid == child.pid:
        code, wall, main_cpu = os.waitstatus_to_exitcode(status), time.perf_counter() - started, usage
        child.returncode = code  # reaped here: Popen has nothing left to wait for
        ended.set()
    else:
        others.append(usage.ru_utime + usage.ru_stime)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({"code": code, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_kb": peak[0],
           "max_kb": usage.ru_maxrss, "main_cpu": main_cpu.ru_utime + main_cpu.ru_stime,
           "others_cpu": sorted(others, reverse=True)}, open(out_path, "w"))
"""


FIRST_TICK = r"""
import json, signal, subprocess, sys
service = subprocess.Popen([*json.loads(sys.argv[1]), "--config", sys.argv[2], "run"], stderr=subprocess.PIPE,
                           stdout=subprocess.DEVNULL, text=True)
for line in service.stderr:
    if "cycle:" in line or "poll cycle failed" in line:
        print(line.strip())
        break
service.send_signal(signal.SIGTERM)
service.stderr.read()
sys.exit(service.wait())
"""


# The monitor as users start it: the `news-monitor` console script beside this interpreter (multiprocessing runs a
# main script again in each extraction worker, which `python -m monitor` does not show), else `python -m monitor`
_SCRIPT = Path(sys.executable).with_name("news-monitor")
MONITOR = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "monitor"]


class Meter:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.count = 0

    def run(self, args: list[str], check: bool = True, say: str | None = None) -> dict:
        """Run `args` under the meter; with `say`, tell what runs and, every minute, for how long (the
        commands' own progress draws only on a terminal, and at 1,000,000 stored some take many minutes)."""
        self.count += 1
        out = self.tmp / f"meter-{self.count}.json"
        meter = subprocess.Popen([sys.executable, "-c", METER, json.dumps(args), str(out)])
        if say:
            print(f"    {say} ...", flush=True)
        started = time.perf_counter()
        while True:
            try:
                meter.wait(60)
                break
            except subprocess.TimeoutExpired:
                if say:
                    print(f"    ... {say}: {time.perf_counter() - started:.0f} s so far", flush=True)
        if meter.returncode:
            raise SystemExit(f"the meter failed ({meter.returncode}) on {' '.join(args)}")
        result = json.loads(out.read_text())
        result["stdout"] = Path(str(out) + ".stdout").read_text(errors="replace")
        result["stderr"] = Path(str(out) + ".stderr").read_text(errors="replace")
        if check and result["code"] != 0:
            raise SystemExit(f"command failed ({result['code']}): {' '.join(args)}\n{result['stderr'][-3000:]}")
        return result

    def monitor(self, config: Path, *command: str, say: str | None = None) -> dict:
        return self.run([*MONITOR, "--config", str(config), *command], say=say)

    def service(self, config: Path, say: str | None = None) -> dict:
        """`news-monitor run` (the service) from its start until its first poll cycle is logged, then
        stopped with SIGTERM: the CPU of its start and first tick (the stop's is small), every process counted."""
        return self.run([sys.executable, "-c", FIRST_TICK, json.dumps(MONITOR), str(config)], say=say)


# -- bare baselines (each in a subprocess of its own, timed around the work only) --------------------

BARE = r"""
import json, pickle, sys, time
kind, data_path = sys.argv[1], sys.argv[2]
data = pickle.load(open(data_path, "rb"))
if kind in ("real", "full"):
    started = time.process_time()
    import feedparser, trafilatura
    imports_cpu = time.process_time() - started
    started = time.process_time()
    for body in data["feeds"]:  # with the monitor's options (monitor/feeds.py, monitor/extract.py)
        feedparser.parse(body, **data["feedparser_options"])
    feeds_cpu = time.process_time() - started
    for body in data.get("pages", ()):
        trafilatura.extract(body, **data["trafilatura_options"])
    print(json.dumps({"cpu": time.process_time() - started, "feeds_cpu": feeds_cpu, "imports_cpu": imports_cpu}))
else:
    import asyncio, aiohttp
    async def main():
        connector = aiohttp.TCPConnector(limit=data["concurrency"], limit_per_host=data["per_host"])
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=20)  # the monitor's defaults
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            async def one(url, etag):
                async with session.get(url, headers={"If-None-Match": etag} if etag else {}) as resp:
                    await resp.read()
                    return resp.status
            # 1,000 requests at a time, as the monitor takes its feeds: 30,000 started at once kept the loop
            # busy starting them long enough for the first connections to pass their 10 s connect timeout
            out = []
            for start in range(0, len(data["requests"]), 1000):
                out += await asyncio.gather(*(one(u, e) for u, e in data["requests"][start:start + 1000]),
                                            return_exceptions=True)
            return out
    started, wall = time.process_time(), time.perf_counter()
    statuses = asyncio.run(main())
    cpu, wall = time.process_time() - started, time.perf_counter() - wall
    # a count per status or exception name: a set of both ints and names could not be sorted, so a single
    # failed request (at 30,000: connect timeouts) made this baseline exit with a TypeError that
    # capture_output swallowed
    counts = {}
    for s in statuses:
        key = str(s) if isinstance(s, int) else f"{type(s).__name__}: {s}"[:120]
        counts[key] = counts.get(key, 0) + 1
    print(json.dumps({"cpu": cpu, "wall": wall, "statuses": counts}))
"""


def bare(tmp: Path, kind: str, data: dict) -> dict:
    if kind in ("real", "full"):  # the libraries as the monitor calls them: the same options, nothing else
        from monitor.extract import TRAFILATURA_OPTIONS
        from monitor.feeds import FEEDPARSER_OPTIONS
        data = {**data, "feedparser_options": FEEDPARSER_OPTIONS, "trafilatura_options": TRAFILATURA_OPTIONS}
    path = tmp / f"bare-{kind}.pickle"
    path.write_bytes(pickle.dumps(data))
    out = subprocess.run([sys.executable, "-c", BARE, kind, str(path)], capture_output=True, text=True)
    if out.returncode != 0:  # say why: capture_output would otherwise hide the baseline's traceback
        raise SystemExit(f"the bare {kind} baseline failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


# -- configs ---------------------------------------------------------------------------------------

def write_config(path: Path, feeds: list[str], fetch_pages: bool = True, extra: tuple[str, ...] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["state_dir: state", f"rules_dir: {ROOT / 'rules'}", "interval: 15m", "fetch:",
             "  allow_private_networks: true", f"  concurrency: {CONCURRENCY}", f"  per_host: {PER_HOST}",
             f"  fetch_pages: {'true' if fetch_pages else 'false'}", *extra, "channels:", "  - type: file",
             "feeds:" if feeds else "feeds: []"]
    lines += [f"  - url: {u}" for u in feeds]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def db_bytes(state: Path) -> int:
    conn = sqlite3.connect(state / "monitor.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    return size - free


def count_since(state: Path, days: int) -> int:
    """Stored articles first seen within the last `days` days, as `rules backtest --since Nd` takes them."""
    since = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    conn = sqlite3.connect(state / "monitor.db")
    try:
        return conn.execute("SELECT count(*) FROM articles WHERE first_seen >= ?", [since]).fetchone()[0]
    finally:
        conn.close()


def count(state: Path, table: str) -> int:
    conn = sqlite3.connect(state / "monitor.db")
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


# -- a large store, filled through the project's own code --------------------------------------------

BASE = 100_000  # a larger store: this many through Store.add_article, the rest copies of them (fill_store)


def fill_store(path: Path, n: int, texts: list[str], days: int = 30) -> None:
    """`n` articles over the last `days` days, written by Store.add_article with the features, fingerprint
    and hits the pipeline would compute (features() and match_article on each distinct text; the
    fingerprint varies per article, as distinct articles' do). Hits older than a day count as digested.

    Beyond BASE articles the rest are copies of the first BASE, made in SQL (the text, its search entry
    through the same trigger, the hits, the story row) with the keys, title, times, fingerprint and
    features each would have had, and their search entries written by one statement per batch (FTS5 writes
    its pending entries out at each statement that has a trigger insert one: ~1 ms an article at 1,000,000).
    A fill cut off resumes where it stopped, the times laid out from the same moment."""
    from monitor.decide import Decider
    from monitor.decide.new import item_hash, item_keys
    from monitor.migrations import _FOLDED, SEARCH_FOLD
    from monitor.models import Article, FeedItem
    from monitor.rules.files import load_rulebook
    from monitor.rules.matching import match_article
    from monitor.search import searchable
    from monitor.store import Store, iso
    from monitor.store.common import _json, _signed

    book = load_rulebook(ROOT / "rules")
    rules = {r.name: r for r in book.rules}
    rng = random.Random(7)
    variants = []
    for i, text in enumerate(texts * 3):  # each text with three different topic leads (or none)
        lead = topic_lead(i + rng.randrange(4))
        body = f"{lead}\n{text}" if lead else text
        title = f"Stored report {i}"
        article = Article(item=FeedItem("", "", None, None, title, "", None), title=title, text=body,
                          text_source="page")
        decision = Decider.describe(article, match_article(book, title, body), rules)
        variants.append((title, body, decision))
    base = min(n, BASE)
    with Store.open(path) as store:
        done, first = store.db.execute("SELECT count(*), min(first_seen) FROM articles").fetchone()
        now = (datetime.fromisoformat(first.replace("Z", "+00:00")) + timedelta(days=days) if done
               else datetime.now(UTC))
        if done:
            print(f"    resuming a fill cut off at {done:,} articles", flush=True)

        def made(j: int, k: int) -> tuple:
            """Article j as the k-th variant: its item, the article, the moment it was seen, features, facts."""
            title, body, decision = variants[k % len(variants)]
            seen = now - timedelta(seconds=days * 86400 * (n - j) / n)
            item = FeedItem(feed_url=f"https://stored{j % 500}.example/feed", feed_name=f"Stored {j % 500}",
                            guid=f"https://stored{j % 500}.example/a/{j}", url=f"https://stored{j % 500}"
                            f".example/a/{j}", title=f"{title} ({j})", summary=body[:300], published=seen)
            article = Article(item=item, title=item.title, text=body, text_source="page", language="en")
            fp = rng.getrandbits(64)
            feats = decision.features and replace(decision.features, fingerprint=fp, published=seen)
            facts = asdict(decision.facts) if decision.facts else None
            return item, article, decision, seen, fp, feats.to_dict() if feats else None, facts

        for _ in range(done):  # the fingerprints the stored rows drew
            rng.getrandbits(64)
        started = time.perf_counter()
        batch = 2000
        for start in range(done, base, batch):
            with store.transaction():
                for j in range(start, min(base, start + batch)):
                    item, article, decision, seen, fp, feats, facts = made(j, j)
                    guid_key, url_key = item_keys(item)
                    store.add_article(article, guid_key, url_key, decision.hits, seen, fingerprint=fp,
                                      features=feats, facts=facts, item_hash=item_hash(item))
            if start and start % 100_000 == 0:
                print(f"    stored {start:,} ({time.perf_counter() - started:.0f} s)", flush=True)
        # the copies: each article j beyond the base is article j % base (ids are j + 1) with its own keys,
        # title, times and fingerprint; its search entry is made by the insert trigger's own statement, a batch
        # at a time, and the folding of its text is the same as its original's, so it is done once per text
        fold = functools.lru_cache(maxsize=8192)(searchable)
        store.db.conn.create_function(SEARCH_FOLD, -1, lambda *texts: fold(*texts), deterministic=True)
        trigger = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'article_search_insert'").fetchone()[0]
        search = (f"INSERT INTO article_search (rowid, title, body, outlet) SELECT a.id, {_FOLDED.format(row='a')} "
                  "FROM articles AS a WHERE a.id BETWEEN ? AND ?")  # what the trigger writes, for a batch
        columns = ("guid_key, url_key, guid, url, feed_url, feed_name, title, summary, text, text_source, "
                   "language, published, first_seen, story, fingerprint, story_features, release_facts, item_hash")
        copy_article = (f"INSERT INTO articles (id, {columns}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, "
                        "summary, text, text_source, language, ?, ?, ?, ?, ?, release_facts, ? "
                        "FROM articles WHERE id = ?")
        copy_hits = ("INSERT INTO hits (article_id, rule, evidence, snippet, why, alert, first_seen, words) "
                     "SELECT ?, rule, evidence, snippet, why, alert, ?, words FROM hits WHERE article_id = ?")
        copy_story = ("INSERT INTO stories (id, first_seen, last_seen, articles, alerted_rules) "
                      "SELECT ?, ?, ?, 1, alerted_rules FROM stories WHERE id = ?")
        batch = 10_000
        for start in range(max(done, base), n, batch):
            articles, hits, stories = [], [], []
            for j in range(start, min(n, start + batch)):
                source = j % base
                item, article, _, seen, fp, feats, _ = made(j, source)
                guid_key, url_key = item_keys(item)
                at = iso(seen)
                articles.append((j + 1, guid_key, url_key, item.guid, item.url, item.feed_url, item.outlet, item.title,
                                 at, at, str(j + 1),
                                 _signed(fp), _json(feats), item_hash(item), source + 1))
                hits.append((j + 1, at, source + 1))
                stories.append((str(j + 1), at, at, str(source + 1)))
            with store.transaction():  # the trigger is back by the commit: a fill cut off leaves it in place
                store.db.execute("DROP TRIGGER article_search_insert")
                store.db.conn.executemany(copy_article, articles)
                store.db.execute(search, [start + 1, start + len(articles)])
                store.db.execute(trigger)
                store.db.conn.executemany(copy_hits, hits)
                store.db.conn.executemany(copy_story, stories)
            if start % 100_000 == 0:
                print(f"    stored {start:,} ({time.perf_counter() - started:.0f} s)", flush=True)
        store.db.execute("UPDATE hits SET digest_message = 'seeded' WHERE first_seen < ?",
                         [(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")])
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def stored_template(cache: Path, n: int, texts: list[str]) -> Path:
    path = cache / f"news-monitor-e2e-stored-{n}-v1.db"
    if not path.exists():
        print(f"  filling a store of {n:,} articles through Store.add_article (kept as {path}) ...", flush=True)
        partial = path.with_suffix(".partial")  # an interrupted fill's rows are kept: fill_store resumes
        fill_store(partial, n, texts)
        partial.rename(path)
    return path


def with_store(template: Path, state: Path) -> None:
    state.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, state / "monitor.db")


# -- the run -----------------------------------------------------------------------------------------

def ms(seconds: float, n: int) -> float:
    return 1000 * seconds / max(1, n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=10_000, help="standing feeds in the unchanged-cycle runs")
    parser.add_argument("--items", type=int, default=2, help="items per standing feed")
    parser.add_argument("--articles", type=int, default=181, help="new articles (real pages; full-content items)")
    parser.add_argument("--stored", type=int, default=100_000, help="articles in the large store")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()), help="where the stores are kept")
    parser.add_argument("--only", default="real,full,standing,fixed,digest,backtest,config",
                        help="comma-separated parts to run (also: reads, the read commands and prune --dry-run "
                             "on an empty and the large store)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="real pages and unchanged cycles: measure the monitor and the bare libraries N times, "
                             "taking turns, and compare the least of each (a shared machine's load drifts)")
    parser.add_argument("--backtest-days", type=int, default=None,
                        help="backtest the articles of the last N days only (default: every stored article)")
    args = parser.parse_args()
    parts = set(args.only.split(","))

    # the code the commands run (as they start: the working directory, PYTHONPATH), not this script's checkout
    package = Path(subprocess.run([sys.executable, "-c", "import monitor; print(monitor.__file__)"], check=True,
                                  capture_output=True, text=True).stdout.strip()).parent
    compileall.compile_dir(package, quiet=1)
    print(f"measuring the monitor package at {package} (byte-compiled)", flush=True)
    pages = load_pages()
    if not pages:
        raise SystemExit("the scrapinghub-aeb corpus is missing (../shared/corpora/scrapinghub-aeb)")
    from monitor.extract import extract_article
    from monitor.models import FeedItem
    blank = FeedItem("", "", None, None, "", "", None)
    texts = []
    for i in range(args.articles):
        text = extract_article(blank, pages[i % len(pages)][1], "text/html; charset=utf-8").text
        lead = topic_lead(i)
        texts.append(f"{lead}\n{text}" if lead else text)

    ports = free_ports(3)
    mode = multiprocessing.Value("i", 1)  # 1: honour validators, 0: ignore them
    ready = multiprocessing.Event()
    spec = {"pages": pages, "texts": texts, "items": args.items, "articles": args.articles}
    server = multiprocessing.Process(target=serve, args=(ports, spec, mode, ready), daemon=True)
    server.start()
    if not ready.wait(60):
        raise SystemExit("the server did not start")

    def url(n: int, kind: str) -> str:
        return f"http://{HOSTS[n % len(HOSTS)]}:{ports[(n // len(HOSTS)) % len(ports)]}/{kind}/{n}.xml"

    rows: list[tuple[str, str, str, str]] = []  # what, ours, bare/limit, ratio
    # the monitor byte-compiled, as `pip install` leaves it (bench_queries does the same): from a checkout with
    # PYTHONDONTWRITEBYTECODE set, every command measured would compile each module it imports again
    compileall.compile_dir(ROOT / "monitor", quiet=1)
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs; python {sys.version.split()[0]}",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        meter = Meter(tmp)
        feeds_n = (args.articles + ITEMS_PER_FEED - 1) // ITEMS_PER_FEED

        if "real" in parts:
            feed_bodies = [real_feed(f"http://{HOSTS[k % len(HOSTS)]}:{ports[(k // len(HOSTS)) % len(ports)]}",
                                     k, args.articles) for k in range(feeds_n)]
            page_list = [page_bytes(pages, i) for i in range(args.articles)]
            trials = []  # (ours, bare, bare with imports) in ms per article, one per repeat
            for repeat in range(args.repeats):
                # the monitor and the bare libraries take turns going first: the load of a shared machine drifts
                if repeat % 2:
                    b = bare(tmp, "real", {"feeds": feed_bodies, "pages": page_list})
                config = write_config(tmp / f"real-{repeat}" / "monitor.yaml", [url(k, "real") for k in range(feeds_n)])
                first = meter.monitor(config, "run", "--once")
                again = meter.monitor(config, "run", "--once")
                if not repeat % 2:
                    b = bare(tmp, "real", {"feeds": feed_bodies, "pages": page_list})
                state = tmp / f"real-{repeat}" / "state"
                stored = count(state, "articles") + count(state, "sources")
                ours, base = ms(first["cpu"] - again["cpu"], stored), ms(b["cpu"], args.articles)
                # the monitor's figure pays the libraries' imports (trafilatura's in the extraction fork server):
                # the ratio is against their work alone, and in brackets against their work and imports
                trials.append((ours, base, ms(b["cpu"] + b["imports_cpu"], args.articles)))
                print(f"  real pages: first run {first['cpu']:.2f} s CPU, second {again['cpu']:.2f} s; "
                      f"{first['stdout'].strip()}", flush=True)
                print(f"  real pages, first run by process: main {first['main_cpu']:.2f} s (second run "
                      f"{again['main_cpu']:.2f} s), the extraction fork server with its workers (and multiprocessing's "
                      f"resource tracker, if any) {' + '.join(f'{c:.2f}' for c in first['others_cpu'])} s; "
                      f"bare: feedparser {b['feeds_cpu']:.2f} s, trafilatura.extract {b['cpu'] - b['feeds_cpu']:.2f} "
                      f"s, importing them {b['imports_cpu']:.2f} s; {ours:.1f} ms against {base:.1f} ms an article "
                      f"({ours / base:.2f}x)", flush=True)
            ours, base, with_imports = (min(t[i] for t in trials) for i in range(3))
            least = f" (least of {len(trials)})" if len(trials) > 1 else ""
            # each trial's ratio too: this machine's speed drifts by tens of percent within minutes (the same bare
            # run took 19 and 34 ms an article ten minutes apart), so a trial's two sides, taken back to back, agree
            # better with each other than the least of each with the other's least
            each = (f"; each trial {', '.join(f'{t[0] / t[1]:.2f}x' for t in trials)}, median "
                    f"{statistics.median(t[0] / t[1] for t in trials):.2f}x") if len(trials) > 1 else ""
            rows.append((f"CPU per new article, real pages ({stored} stored of {args.articles}){least}",
                         f"{ours:.1f} ms", f"feedparser + trafilatura.extract {base:.1f} ms",
                         f"{ours / base:.2f}x ({ours / with_imports:.2f}x with their imports){each}"))

        if "full" in parts:
            state = tmp / "full" / "state"
            config = write_config(tmp / "full" / "monitor.yaml", [url(k, "full") for k in range(feeds_n)],
                                  fetch_pages=False)
            meter.monitor(config, "status")  # creates the empty store, so its size can be taken off
            empty = db_bytes(state)
            first = meter.monitor(config, "run", "--once")
            again = meter.monitor(config, "run", "--once")
            stored = count(state, "articles")
            ours = ms(first["cpu"] - again["cpu"], stored)
            feed_bodies = [full_feed("", k, texts) for k in range(feeds_n)]
            b = bare(tmp, "full", {"feeds": feed_bodies})
            base = ms(b["cpu"], args.articles)
            rows.append((f"CPU per new article, full-content feeds, no page fetch ({stored} stored)",
                         f"{ours:.2f} ms", f"feedparser {base:.2f} ms", f"own work {ours - base:.2f} ms"))
            text_kb = sum(len(t.encode()) for t in texts) / len(texts) / 1024
            rows.append(("database per article (full-content items)",
                         f"{(db_bytes(state) - empty) / max(1, stored) / 1024:.1f} KB",
                         f"its text {text_kb:.1f} KB", "-"))
            print(f"  full content: first run {first['cpu']:.2f} s CPU, second {again['cpu']:.2f} s; "
                  f"{first['stdout'].strip()}", flush=True)

        if "standing" in parts or "config" in parts:
            feeds = [url(n, "std") for n in range(args.feeds)]
            config = write_config(tmp / "std" / "monitor.yaml", feeds, fetch_pages=False)

        if "config" in parts:
            import yaml

            from monitor.config import load_config
            text = config.read_text()
            state = config.parent / "state"
            shutil.rmtree(state, ignore_errors=True)  # no state directory: parsed, and nothing kept
            started = time.process_time()
            load_config(config)
            ours_cpu = time.process_time() - started
            state.mkdir()
            load_config(config)  # parsed, and its parse kept in state/
            started = time.process_time()
            load_config(config)  # the text unchanged since: the kept parse
            kept_cpu = time.process_time() - started
            started = time.process_time()
            yaml.load(text, Loader=yaml.CSafeLoader)
            c_cpu = time.process_time() - started
            rows.append((f"config load, {args.feeds:,} feeds",
                         f"{ours_cpu:.2f} s CPU; unchanged since the last run {kept_cpu:.3f} s",
                         f"yaml.CSafeLoader {c_cpu:.2f} s", f"{ours_cpu / c_cpu:.1f}x; {kept_cpu / c_cpu:.2f}x"))

        if "standing" in parts:
            empty_cfg = write_config(tmp / "empty" / "monitor.yaml", [], fetch_pages=False)
            meter.monitor(empty_cfg, "run", "--once")
            fixed = min((meter.monitor(empty_cfg, "run", "--once") for _ in range(2)), key=lambda r: r["wall"])
            # the monitor as it runs for weeks: its state directory exists before the first poll (here made by
            # `status`), so that poll keeps the config's parse for the runs that follow
            meter.monitor(config, "status")
            first = meter.monitor(config, "run", "--once")
            print(f"  standing feeds, first poll: {first['cpu']:.1f} s CPU, {first['wall']:.1f} s; "
                  f"{first['stdout'].strip()}", flush=True)
            rows.append((f"memory of one cycle: first poll of {args.feeds:,} feeds x {args.items} items",
                         f"{first['peak_kb'] / 1024:.0f} MB main process", "bounded by a batch size",
                         f"largest process {first['max_kb'] / 1024:.0f} MB"))
            bodies = {u: standing_feed(n, args.items) for n, u in enumerate(feeds)}
            for label, validators in (("all 304", 1), ("identical bodies, no validators", 0)):
                mode.value = validators
                requests = [(u, etag_of(bodies[u]) if validators else None) for u in feeds]
                runs, fixeds, bares = [], [fixed], []
                for repeat in range(args.repeats):
                    if repeat:  # the fixed cost again, beside this repeat's cycle: a shared machine's load drifts
                        fixeds.append(meter.monitor(empty_cfg, "run", "--once"))
                    runs.append(meter.monitor(config, "run", "--once"))
                    bares.append(bare(tmp, "aiohttp", {"concurrency": CONCURRENCY, "per_host": PER_HOST,
                                                       "requests": requests}))
                    answered = bares[-1]["statuses"].get("304" if validators else "200", 0)
                    if answered != len(feeds):  # both sides are compared on the same answers, or the row says so
                        print(f"  bare aiohttp: {len(feeds) - answered} of {len(feeds)} requests did not get their "
                              f"answer: {bares[-1]['statuses']}", flush=True)
                    print(f"  {label}: {runs[-1]['cpu']:.2f} s CPU, {runs[-1]['wall']:.2f} s wall (fixed "
                          f"{fixeds[-1]['cpu']:.2f} s, {fixeds[-1]['wall']:.2f} s); bare aiohttp "
                          f"{bares[-1]['cpu']:.2f} s CPU; {runs[-1]['stdout'].strip()}", flush=True)
                least = functools.partial(min, key=lambda r: r["cpu"])
                cpu = least(runs)["cpu"] - least(fixeds)["cpu"]  # the least of each, as for real pages
                wall = min(r["wall"] for r in runs) - min(f["wall"] for f in fixeds)
                b = {"cpu": least(bares)["cpu"], "wall": min(r["wall"] for r in bares)}
                rate, bare_rate = args.feeds / wall, args.feeds / b["wall"]
                rows.append((f"unchanged cycle, {args.feeds:,} feeds, {label}"
                             + (f" (least of {args.repeats})" if args.repeats > 1 else ""),
                             f"{ms(cpu, args.feeds):.3f} ms CPU/feed; {rate:,.0f} feeds/s",
                             f"bare aiohttp {ms(b['cpu'], args.feeds):.3f} ms; {bare_rate:,.0f} feeds/s",
                             f"{rate / bare_rate:.2f}x rate, "
                             f"{ms(b['cpu'], args.feeds) / ms(cpu, args.feeds):.2f}x CPU"))
            mode.value = 1

        if parts & {"fixed", "digest", "backtest", "reads"}:
            template = stored_template(args.cache, args.stored, texts)
            one = [url(0, "std")]
            small = write_config(tmp / "small" / "monitor.yaml", one, fetch_pages=False)
            large = write_config(tmp / "large" / "monitor.yaml", one, fetch_pages=False)
            print(f"  copying the store of {args.stored:,} articles ...", flush=True)
            with_store(template, tmp / "large" / "state")
            at = f"at {args.stored:,}"

        if parts & {"fixed", "reads"}:  # the stores' first runs (migrations, a first poll), not measured
            meter.monitor(small, "run", "--once")
        if parts & {"fixed", "reads", "backtest"}:  # (a backtest alone would pay the copy's migrations)
            meter.monitor(large, "run", "--once", say=f"a first `run --once` {at} (not measured)")

        if "fixed" in parts:
            empty_run = min((meter.monitor(small, "run", "--once") for _ in range(2)), key=lambda r: r["cpu"])
            large_run = min((meter.monitor(large, "run", "--once", say=f"`run --once` {at}") for _ in range(2)),
                            key=lambda r: r["cpu"])
            rows.append(("fixed cost of each `run --once` (1 unchanged feed)",
                         f"{empty_run['cpu']:.2f} s empty store; {large_run['cpu']:.2f} s {at}",
                         "within 0.3 s of the empty store's", f"{large_run['cpu'] - empty_run['cpu']:+.2f} s"))
            rows.append(("memory of that `run --once` (peak RSS, main process)",
                         f"{empty_run['peak_kb'] / 1024:.0f} MB empty store; {large_run['peak_kb'] / 1024:.0f} MB {at}",
                         "not growing with the store",
                         f"{(large_run['peak_kb'] - empty_run['peak_kb']) / 1024:+.0f} MB"))
            # the service's start until its first tick: a feed new to the config (its URL differs) whose items
            # are stored already, so the tick polls one feed and stores nothing, as a restarted service does
            again = [url(0, "std") + "?restart"]
            starts = []
            for name, label in (("small", "empty store"), ("large", at)):
                config = write_config(tmp / name / "service.yaml", again, fetch_pages=False)
                starts.append(meter.service(config, say=f"the service's start until its first tick, {label}"))
                again = [again[0] + "-again"]  # the second store has not seen the first's URL either
            rows.append(("the service's start until its first tick (1 unchanged feed due)",
                         f"{starts[0]['cpu']:.2f} s empty store; {starts[1]['cpu']:.2f} s {at}",
                         "within 0.3 s of the empty store's", f"{starts[1]['cpu'] - starts[0]['cpu']:+.2f} s"))
            # a run that does bring new articles loads the copy and story indexes from the store once
            new_small = write_config(tmp / "new-small" / "monitor.yaml", [url(0, "full")], fetch_pages=False)
            # on the large store's own copy (a second copy of 1,000,000 articles is ~12 GB more on the disk):
            # the runs above stored nothing, and the digest below gains these runs' few hits
            new_large = write_config(tmp / "large" / "new.yaml", [url(0, "full")], fetch_pages=False)
            # out of the measured run: migrations, and a first run bringing other articles (feed 1), as the
            # store of a monitor in use has already been through one (the copy index kept since, if any)
            for name in ("new-small", "large"):
                meter.monitor(write_config(tmp / name / "warm.yaml", [url(1, "full")], fetch_pages=False),
                              "run", "--once")
            small_new = meter.monitor(new_small, "run", "--once")
            large_new = meter.monitor(new_large, "run", "--once", say=f"`run --once` bringing new articles {at}")
            rows.append((f"`run --once` bringing {ITEMS_PER_FEED} new articles (indexes loaded)",
                         f"{small_new['cpu']:.2f} s empty store; {large_new['cpu']:.2f} s {at}",
                         "within 0.3 s of the empty store's", f"{large_new['cpu'] - small_new['cpu']:+.2f} s"))
            rows.append(("memory of that `run --once` (peak RSS, main process)",
                         f"{small_new['peak_kb'] / 1024:.0f} MB empty store; {large_new['peak_kb'] / 1024:.0f} MB {at}",
                         "not growing with the store",
                         f"{(large_new['peak_kb'] - small_new['peak_kb']) / 1024:+.0f} MB"))

        if "reads" in parts:  # the commands an analyst runs beside the service, empty store against the large one
            retention = ("retention:", "  article_text: 7d", "  non_hit_articles: 21d", "  delivered_messages: 30d")
            commands = [("status",), ("feeds",), ("hits", "--since", "1d"), ("outbox",),
                        ("search", "belarus"),  # many matches
                        ("search", f"{args.stored * 3 // 4}"),  # one article's title (few matches)
                        ("search", "zzzqqqx"),  # no match
                        ("prune", "--dry-run")]
            for name in ("small", "large"):
                write_config(tmp / name / "reads.yaml", one, fetch_pages=False, extra=retention)
            for command in commands:
                small_cmd = meter.monitor(tmp / "small" / "reads.yaml", *command)
                large_cmd = meter.monitor(tmp / "large" / "reads.yaml", *command, say=f"`{' '.join(command)}` {at}")
                rows.append((f"`{' '.join(command)}`",
                             f"{small_cmd['cpu']:.2f} s empty store; {large_cmd['cpu']:.2f} s {at}",
                             "not growing with the store", f"{large_cmd['cpu'] - small_cmd['cpu']:+.2f} s"))
            # retention as the service runs it, once a day: a first prune (not measured; at 28 days: the first prune
            # of this never-pruned store at the 7 days above would drop 400,000 texts first, ~20 minutes here), then
            # the next day's, at 27 days: one day to read past each cutoff (migration 019's marks)
            for name in ("small", "large"):
                for days, config in ((28, "first.yaml"), (27, "next.yaml")):
                    write_config(tmp / name / config, one, fetch_pages=False,
                                 extra=("retention:", f"  article_text: {days}d", f"  non_hit_articles: {days}d"))
                meter.monitor(tmp / name / "first.yaml", "prune", say=f"a first `prune` ({name}, not measured)")
            for command in (("prune", "--dry-run"), ("prune",)):
                small_cmd = meter.monitor(tmp / "small" / "next.yaml", *command)
                large_cmd = meter.monitor(tmp / "large" / "next.yaml", *command,
                                          say=f"`{' '.join(command)}` the next day {at}")
                rows.append((f"`{' '.join(command)}` the next day (retention 27 days after a prune at 28)",
                             f"{small_cmd['cpu']:.2f} s empty store; {large_cmd['cpu']:.2f} s {at}; "
                             f"{large_cmd['stdout'].strip()}",
                             "not growing with the store", f"{large_cmd['cpu'] - small_cmd['cpu']:+.2f} s"))

        if "digest" in parts:
            if not parts & {"fixed", "reads", "backtest"}:  # the copy's migrations, out of the measured digest
                meter.monitor(large, "status", say=f"a first `status` {at} (not measured)")
            dry = meter.monitor(large, "digest", "--dry-run", say=f"`digest --dry-run` {at}")
            outbox = tmp / "large" / "state" / "outbox"
            sent = meter.monitor(large, "digest", say=f"`digest` {at}")
            sizes = [p.stat().st_size for p in outbox.glob("*digest*.json")] or [0]
            pending = sent["stdout"].strip()
            rows.append((f"`digest` of one day's hits at {args.stored:,} stored",
                         f"--dry-run {dry['cpu']:.2f} s CPU; sent {sent['cpu']:.2f} s; JSON "
                         f"{max(sizes) / 1024:.0f} KB", "under 1 s; JSON under 1 MB", pending))

        if "backtest" in parts:
            days = args.backtest_days
            seen = args.stored if days is None else count_since(tmp / "large" / "state", days)
            run = meter.monitor(large, "rules", "backtest", "all", "--since", f"{days or 3650}d",
                                say=f"`rules backtest all` over {seen:,} stored articles")
            from monitor.rules.files import load_rulebook
            from monitor.rules.matching import match_article
            book = load_rulebook(ROOT / "rules")
            conn = sqlite3.connect(tmp / "large" / "state" / "monitor.db")
            sample = conn.execute("SELECT title, text FROM articles ORDER BY id DESC LIMIT 2000").fetchall()
            conn.close()
            started = time.process_time()
            for title, text in sample:
                match_article(book, title or "", text or "")
            rate = len(sample) / (time.process_time() - started)
            rows.append((f"`rules backtest all` over {seen:,} stored articles",
                         f"{seen / run['cpu']:,.0f} articles/s ({run['cpu']:.1f} s CPU)",
                         f"the pipeline's matcher {rate:,.0f} articles/s; target >= 2,000",
                         f"{seen / run['cpu'] / rate:.2f}x"))
    server.kill()

    print()
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}} | {'news-monitor':<44} | {'bare libraries / limit':<50} | ratio")
    for what, ours, base, ratio in rows:
        print(f"{what:<{width}} | {ours:<44} | {base:<50} | {ratio}")


if __name__ == "__main__":
    main()
