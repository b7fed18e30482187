"""ExtractPool with real worker processes and real trafilatura: same Articles as extract_article, in
job order; a slow page is killed at the time limit, a page over the memory cap and a crashed worker fall
back to the summary, and in every case the pool replaces the worker and carries on."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from monitor.extract import extract_article
from monitor.extract_pool import ExtractJob, ExtractPool
from monitor.models import FeedItem
from tests.helpers import SITE

BASE = "http://127.0.0.1:8000"
PAGES = [
    "/articles/northwire/belarus-frees-31.html",
    "/articles/baltic-ledger/lithuania-september-heat-record.html",
    "/articles/minsk-monitor/ru-lukashenko-pomiloval-18.html",
    "/articles/baltic-ledger/zapad-logistics-kaunas-hub.html",
]
# A giant table: trafilatura needs ~9 s for it on the 2-core dev machine (about linear in rows).
GIANT_TABLE = ("<html><body><table>" + "".join(f"<tr><td>cell {i} text here</td><td>more {i}</td></tr>"
                                               for i in range(60_000)) + "</table></body></html>").encode()
# One 8 MB paragraph: extracting it takes the worker's address space ~200 MB above its ~80 MB baseline.
MEMORY_HOG = b"<html><body><p>" + b"word " * 1_600_000 + b"</p></body></html>"


def item(path: str = "/articles/x.html", summary: str = "The feed's own summary.") -> FeedItem:
    return FeedItem(feed_url=f"{BASE}/feeds/f.xml", feed_name="F", guid=path, url=BASE + path, title="Title",
                    summary=summary, published=None)


def job(path: str) -> ExtractJob:
    body = (SITE / path.lstrip("/")).read_bytes().replace(b"{base}", BASE.encode())
    return ExtractJob(item(path), body, "text/html; charset=utf-8")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def pool():
    with ExtractPool(workers=2, timeout=10.0) as extract_pool:
        yield extract_pool


def test_results_equal_extract_article_in_job_order(pool):
    jobs = [job(p) for p in PAGES * 2] + [
        ExtractJob(item(), None, "", "HTTP 404 Not Found"),
        ExtractJob(item(summary="A summary much longer than the page. " * 10),
                   b"<html><body><article><p>Subscribe to read.</p></article></body></html>", "text/html"),
        ExtractJob(item(), b"\x00\x01\x02 binary \xff\xfe", "application/octet-stream"),
    ]
    articles = pool.run(jobs)
    assert articles == [extract_article(*j) for j in jobs]
    assert [a.item.guid for a in articles] == [j.item.guid for j in jobs]
    assert [a.text_source for a in articles[:8]] == ["page"] * 8
    assert articles[8].note == "page not fetched: HTTP 404 Not Found"
    assert len(pool.pids) == 2 and all(alive(pid) for pid in pool.pids)


def test_empty_run_and_pages_without_bodies_need_no_worker():
    with ExtractPool(workers=2) as fresh:
        assert fresh.run([]) == []
        article = fresh.run([ExtractJob(item(), None)])[0]
    assert article.text_source == "summary" and article.note == "no page"


def test_inline_mode_runs_in_process():
    inline = ExtractPool(workers=0)
    jobs = [job(p) for p in PAGES]
    assert inline.run(jobs) == [extract_article(*j) for j in jobs]
    assert inline.pids == []
    inline.close()


def test_slow_page_is_killed_at_the_time_limit_and_the_pool_carries_on():
    jobs = [job(PAGES[0]), ExtractJob(item("/giant-table.html"), GIANT_TABLE, "text/html"), job(PAGES[1]),
            job(PAGES[2])]
    with ExtractPool(workers=2, timeout=1.0) as slow_pool:
        slow_pool.start(wait_ready=True)
        before = slow_pool.pids
        articles = slow_pool.run(jobs)  # abandoned at the limit: the note names it, the worker is killed (below)
        assert articles[1].text_source == "summary"
        assert articles[1].note == "extraction timed out after 1s"
        assert articles[1].text == jobs[1].item.summary
        assert [articles[i] for i in (0, 2, 3)] == [extract_article(*jobs[i]) for i in (0, 2, 3)]
        after = slow_pool.pids
        assert len(after) == 2 and len(set(before) - set(after)) == 1  # one worker killed and replaced
        assert not any(alive(pid) for pid in set(before) - set(after))
        again = [job(p) for p in PAGES]
        assert slow_pool.run(again) == [extract_article(*j) for j in again]


def test_page_over_the_memory_cap_falls_back_and_the_pool_carries_on():
    jobs = [job(PAGES[0]), ExtractJob(item("/hog.html"), MEMORY_HOG, "text/html"), job(PAGES[1])]
    with ExtractPool(workers=2, timeout=15.0, memory_mb=200) as capped:
        articles = capped.run(jobs)
        assert articles[1].text_source == "summary"
        assert articles[1].note == "extraction exceeded the memory cap (200 MB)"
        assert [articles[0], articles[2]] == [extract_article(*jobs[0]), extract_article(*jobs[2])]
        again = [job(p) for p in PAGES]
        assert capped.run(again) == [extract_article(*j) for j in again]


def test_cap_below_what_any_extraction_needs_falls_back_for_every_page():
    with ExtractPool(workers=2, timeout=15.0, memory_mb=1) as starved:
        for _ in range(2):  # the replaced workers fare the same, and nothing raises
            articles = starved.run([job(p) for p in PAGES[:2]])
            assert [a.note for a in articles] == ["extraction exceeded the memory cap (1 MB)"] * 2
            assert [a.text for a in articles] == ["The feed's own summary."] * 2
        assert len(starved.pids) == 2


def test_a_worker_that_dies_is_replaced():
    with ExtractPool(workers=2, timeout=30.0) as pool_to_hurt:
        pool_to_hurt.start(wait_ready=True)  # so the kill lands on a worker at work, not one warming up
        victims = pool_to_hurt.pids
        killer = threading.Timer(0.5, lambda: [os.kill(pid, signal.SIGKILL) for pid in victims])
        killer.start()
        try:
            articles = pool_to_hurt.run([ExtractJob(item("/giant-table.html"), GIANT_TABLE, "text/html")])
        finally:
            killer.cancel()
        assert articles[0].text_source == "summary"
        assert articles[0].note == "extraction worker crashed (signal SIGKILL)"
        # the other worker died idle: the next run notices when it hands it a page, and retries elsewhere
        again = [job(p) for p in PAGES]
        assert pool_to_hurt.run(again) == [extract_article(*j) for j in again]
        assert not set(victims) & set(pool_to_hurt.pids)


def test_an_exception_inside_extraction_becomes_a_fallback_and_the_worker_stays(pool):
    before = pool.pids
    wrong = ExtractJob(item(), "a str where bytes belong", "text/html")  # decode_html raises TypeError
    articles = pool.run([wrong, job(PAGES[0])])
    assert articles[0].text_source == "summary" and articles[0].note == "extraction failed: TypeError"
    assert articles[1] == extract_article(*job(PAGES[0]))
    assert pool.pids == before


def test_no_worker_process_starts_until_a_page_comes():
    with ExtractPool(workers=2) as lazy:
        assert lazy.pids == []  # entering the pool starts nothing
        lazy.run([ExtractJob(item(), None, "", "HTTP 404 Not Found")])
        assert lazy.pids == []  # nor does a run without a page body
        articles = lazy.run([job(PAGES[0])])
        assert len(lazy.pids) == 2 and all(alive(pid) for pid in lazy.pids)
    assert articles == [extract_article(*job(PAGES[0]))]


def test_workers_fork_from_a_warmed_up_fork_server():
    """Workers are forked by the fork server, not by this (possibly threaded) process: a worker's parent is the
    server, which had trafilatura imported (lxml's library mapped) and extraction warmed up before forking it, so
    the worker's own warm_up() finds nothing left to do. No multiprocessing resource tracker is started."""
    from multiprocessing import resource_tracker

    from monitor import extract_pool

    with ExtractPool(workers=2) as forked:
        forked.start(wait_ready=True)
        parents = {_status(pid)["PPid"] for pid in forked.pids}
        assert len(parents) == 1 and str(os.getpid()) not in parents
        server = parents.pop()
        with open(f"/proc/{server}/maps") as maps:
            assert "lxml/etree" in maps.read()
        assert _status(server)["Threads"] == "1"
    assert extract_pool._context() is None
    assert resource_tracker._resource_tracker._pid is None


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def test_the_console_script_costs_a_worker_no_cli_import(tmp_path):
    """The `news-monitor` console script as pip writes it, starting a pool: no worker runs the script again
    (multiprocessing's workers did: a script is run by path, unlike `python -m monitor`, and with the entry point
    monitor.cli:main each one imported click and every command, ~0.1 s of CPU), and nothing loads the CLI but
    main() itself; the spawn fallback (no fork) still runs the script in each worker, so its import stays cheap."""
    import subprocess
    import sys
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    entry = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]["news-monitor"]
    module, function = entry.split(":")
    runs = tmp_path / "runs.log"
    script = tmp_path / "news-monitor"  # as pip writes a console script, then what it loaded, then a pool started
    script.write_text(
        f"import os, sys\nfrom {module} import {function}\n"
        "with open(os.environ['RUNS_LOG'], 'a') as log:\n"
        "    log.write(f\"{__name__} {os.getpid()} {'click' in sys.modules} {'monitor.cli' in sys.modules}\\n\")\n"
        "if __name__ == '__main__':\n"
        "    from monitor.extract_pool import ExtractPool\n"
        "    with ExtractPool(workers=2) as pool:\n"
        "        pool.start(wait_ready=True)\n"
        "        print(' '.join(map(str, pool.pids)))\n", encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path,
                         env={**os.environ, "RUNS_LOG": str(runs), "PYTHONPATH": str(root)})
    workers = out.stdout.split()
    lines = [line.split() for line in runs.read_text().splitlines()]
    assert len(workers) == 2
    # forked from the fork server, the workers do not run the script again (multiprocessing's workers did)
    assert [name for name, *_ in lines] == ["__main__"]
    assert all(click == cli == "False" for *_, click, cli in lines)  # neither click nor the CLI


def test_a_fork_server_that_died_is_started_again():
    from monitor import extract_server

    with ExtractPool(workers=2, timeout=30.0) as pool_to_hurt:
        pool_to_hurt.start(wait_ready=True)
        first = extract_server.server(60.0)._process.pid
        victims = pool_to_hurt.pids
        for pid in [first, *victims]:
            os.kill(pid, signal.SIGKILL)
        _wait_gone([first, *victims])  # so the next run meets dead workers, not ones still dying
        jobs = [job(p) for p in PAGES]
        assert pool_to_hurt.run(jobs) == [extract_article(*j) for j in jobs]  # new workers, from a new server
        assert extract_server.server(60.0)._process.pid != first
        assert not set(victims) & set(pool_to_hurt.pids) and len(pool_to_hurt.pids) == 2


@pytest.mark.parametrize("ending", ["close", "os._exit"])
def test_the_fork_server_and_its_workers_end_with_the_process_that_started_them(tmp_path, ending):
    """Closed pool or a process that dies without closing anything: the server sees its control socket close and
    exits, the workers see theirs close and exit; nothing is left behind either way."""
    import subprocess
    import sys

    script = ("import os, sys\n"
              "from monitor.extract_pool import ExtractPool\n"
              "from monitor import extract_server\n"
              "pool = ExtractPool(workers=2)\n"
              "pool.start(wait_ready=True)\n"
              "print(extract_server.server(60.0)._process.pid, *pool.pids, flush=True)\n"
              "if sys.argv[1] == 'close':\n"
              "    pool.close()\n"
              "else:\n"
              "    os._exit(0)\n")
    out = subprocess.run([sys.executable, "-c", script, ending], capture_output=True, text=True, check=True,
                         cwd=tmp_path)
    pids = [int(pid) for pid in out.stdout.split()]
    assert len(pids) == 3
    _wait_gone(pids)
    assert not any(running(pid) for pid in pids)


def running(pid: int) -> bool:
    """Alive and not a zombie (one whose parent died is reaped by whoever adopts it, at its own pace)."""
    try:
        return _status(pid)["State"][0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _wait_gone(pids: list[int]) -> None:
    import time

    deadline = time.monotonic() + 60  # a wait for them to go, not a speed requirement
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
