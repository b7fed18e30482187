"""Runs extract_article in worker processes: one page may not hang the cycle (per-page time limit: the
worker is killed and replaced) nor bloat the service (address-space cap while extracting); results come
back in job order and one bad page never raises, it becomes a summary fallback whose note says why.

Owns the worker processes and nothing else: no fetching, no parsing of its own. workers=0 runs inline.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import resource
import signal
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import NamedTuple

from monitor import extract_server
from monitor.errors import ExtractError
from monitor.extract import extract_article, fallback_article
from monitor.models import Article, FeedItem

log = logging.getLogger("monitor.extract_pool")
_MEMORY = "memory"  # the worker's reply when the page hit the cap (built before the cap is set)
# A worker's address space at rest is ~90 MB (VmSize after 60 scrapinghub-aeb pages); under 256 MB, ordinary
# large pages would hit the cap, so the total budget starts fewer workers rather than starve each one.
MIN_WORKER_MB = 256
_START_TIMEOUT = 60.0  # seconds for a new worker to start and warm up (~0.3 s here)
_START_ATTEMPTS = 3  # workers in a row that fail to start before run() raises ExtractError
_WARM_UP = (FeedItem("", "", None, None, "warm-up", "", None),
            b"<html lang='en'><head><title>Warm-up</title></head><body><article><h1>Warm-up</h1>"
            b"<p>A short page: trafilatura falls back to jusText, which loads its stoplists.</p>"
            b"</article></body></html>", "text/html; charset=utf-8")


class ExtractJob(NamedTuple):
    """One page to extract: what extract_article takes."""

    item: FeedItem
    body: bytes | None
    content_type: str = ""
    fetch_error: str | None = None


@dataclass
class _Worker:
    process: extract_server.Forked | multiprocessing.process.BaseProcess
    conn: Connection
    deadline: float  # for its warm-up while not ready, then for its current job
    ready: bool = False
    job: int | None = None  # index of the job it is extracting
    jobs_done: int = 0


class ExtractPool:
    """A fixed set of extraction processes, started by the first run() that has a page to extract (or
    by start()); use as a context manager, or call close().

    `timeout` is seconds per page, counted from dispatch to a warmed-up worker; `memory_mb` caps a
    worker's address space while it extracts, and `memory_total_mb` the pool's: each worker gets its
    share, and fewer workers start when a share would fall under MIN_WORKER_MB. A worker is replaced after
    `max_jobs_per_worker` pages so slow leaks cannot build up. Not thread-safe: one run() at a time.
    workers=0 extracts in this process with neither a time limit nor a memory cap.
    """

    def __init__(self, workers: int | None = None, timeout: float = 10.0, memory_mb: int = 1024,
                 max_jobs_per_worker: int = 500, memory_total_mb: int | None = None) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.timeout = timeout
        self.memory_mb = memory_mb
        if memory_total_mb is not None and self.workers > 0:
            # a worker whose address space is its share, and never more workers than the total fits: the
            # total holds whatever the number of cores (2 workers x 1 GB became 1.45 GB with the parent)
            fits = max(1, memory_total_mb // MIN_WORKER_MB)
            if self.workers > fits:
                log.warning("extract: %d workers would get under %d MB each of extract.memory_total_mb "
                            "(%d MB): starting %d", self.workers, MIN_WORKER_MB, memory_total_mb, fits)
                self.workers = fits
            self.memory_mb = min(memory_mb, memory_total_mb // self.workers)
        self.max_jobs_per_worker = max_jobs_per_worker
        self._pool: list[_Worker] = []
        self._done: Callable[[], None] | None = None  # the current run's progress callback
        self._start_failures = 0  # workers in a row that died or hung before they were ready
        self._context = _context()

    def __enter__(self) -> ExtractPool:
        # no workers yet: run() starts them when the first page comes, so a cycle that fetches no page
        # (an unchanged cycle, full-content feeds) costs no processes (110-185 MB) and no warm-up CPU
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        """Process ids of the current workers (they change when a worker is replaced)."""
        return [w.process.pid for w in self._pool if w.process.pid is not None]

    def start(self, wait_ready: bool = False) -> None:
        """Start the workers now (run() starts them when needed); they warm up in the background
        (~0.3 s of CPU each) unless `wait_ready`."""
        while len(self._pool) < self.workers:
            self._pool.append(self._spawn())
        while wait_ready and (starting := [w for w in self._pool if not w.ready]):
            soonest = min(w.deadline for w in starting)
            readable = wait([w.conn for w in starting], timeout=max(0.0, soonest - time.monotonic()))
            for worker in starting:
                if worker.conn in readable:
                    self._receive(worker, (), [])
                elif worker.deadline <= time.monotonic():
                    self._expire(worker, (), [])

    def close(self) -> None:
        """Ask every worker to stop; kill the ones that have not within a second."""
        for worker in self._pool:
            with contextlib.suppress(OSError):  # already gone
                worker.conn.send(None)
        for worker in self._pool:
            worker.process.join(1.0)
            self._stop(worker)
        self._pool = []

    def run(self, jobs: Sequence[ExtractJob], done: Callable[[], None] | None = None) -> list[Article]:
        """One Article per job, in job order; pages that time out or hit the cap fall back to the summary.
        `done` is called as each job's article is ready (progress on a terminal)."""
        results: list[Article | None] = [None] * len(jobs)
        self._done = done
        queue: deque[int] = deque()
        for index, job in enumerate(jobs):
            if self.workers == 0 or job.body is None:  # nothing to parse: no need for a worker
                results[index] = _extract_here(job)
                self._settled()
            else:
                queue.append(index)
        if queue:
            self.start()
            for worker in list(self._pool):
                if worker.job is not None:  # a run interrupted by an exception left it busy: its reply is stale
                    self._replace(worker)
            self._dispatch(jobs, queue, results)
        return results  # type: ignore[return-value]  # every slot is filled by now

    def _settled(self) -> None:
        if self._done is not None:
            self._done()

    # -- the scheduling loop --------------------------------------------------------------------------

    def _dispatch(self, jobs: Sequence[ExtractJob], queue: deque[int], results: list[Article | None]) -> None:
        while queue or any(w.job is not None for w in self._pool):
            for worker in list(self._pool):
                if queue and worker.ready and worker.job is None:
                    self._send(worker, jobs, queue)
            watched = [w for w in self._pool if not w.ready or w.job is not None]
            soonest = min(w.deadline for w in watched)
            readable = wait([w.conn for w in watched], timeout=max(0.0, soonest - time.monotonic()))
            now = time.monotonic()
            for worker in watched:
                if worker.conn in readable:
                    self._receive(worker, jobs, results)
                elif worker.deadline <= now:
                    self._expire(worker, jobs, results)

    def _send(self, worker: _Worker, jobs: Sequence[ExtractJob], queue: deque[int]) -> None:
        index = queue.popleft()
        job = jobs[index]
        try:
            if isinstance(job.body, bytes):  # the page's bytes as they are, not copied into a pickle and out again
                worker.conn.send(job._replace(body=None))
                worker.conn.send_bytes(job.body)
            else:  # a body of another type: pickled, so extract_article meets it as it was given
                worker.conn.send(job)
        except OSError:  # it died while idle (say, the kernel's OOM killer): not this page's fault
            queue.appendleft(index)
            self._replace(worker)
            return
        worker.job, worker.deadline = index, time.monotonic() + self.timeout

    def _receive(self, worker: _Worker, jobs: Sequence[ExtractJob], results: list[Article | None]) -> None:
        """Take the worker's message: "ready", an Article, or news of a failure (then it is replaced)."""
        try:
            reply = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(1.0)
            reason = _exit_reason(worker.process.exitcode)
            if worker.job is None:
                self._start_failed(worker, f"died while starting ({reason})")
                return
            self._fail(worker, jobs[worker.job], results, f"extraction worker crashed ({reason})")
            return
        if not worker.ready:
            worker.ready, worker.deadline, self._start_failures = True, float("inf"), 0
            return
        if reply == _MEMORY:  # its heap may stay bloated: start afresh
            note = f"extraction exceeded the memory cap ({self.memory_mb} MB)"
            self._fail(worker, jobs[worker.job], results, note)
            return
        index, worker.job = worker.job, None
        worker.jobs_done += 1
        if isinstance(reply, str):  # an exception's name: extract_article has a bug on this page
            log.warning("extract: %s: extraction failed: %s", jobs[index].item.url, reply)
            reply = fallback_article(jobs[index].item, f"extraction failed: {reply}", failed=True)
        results[index] = reply
        self._settled()
        if worker.jobs_done >= self.max_jobs_per_worker:
            self._replace(worker)

    def _expire(self, worker: _Worker, jobs: Sequence[ExtractJob], results: list[Article | None]) -> None:
        if worker.job is None:
            self._start_failed(worker, f"did not start within {_START_TIMEOUT:g}s")
            return
        self._fail(worker, jobs[worker.job], results, f"extraction timed out after {self.timeout:g}s")

    def _fail(self, worker: _Worker, job: ExtractJob, results: list[Article | None], note: str) -> None:
        """The summary stands in for the worker's page; the worker is killed and replaced."""
        log.warning("extract: %s: %s", job.item.url, note)
        results[worker.job] = fallback_article(job.item, note, failed=True)
        self._settled()
        self._replace(worker)

    def _start_failed(self, worker: _Worker, why: str) -> None:
        """Replace a worker that never became ready; give up when new ones keep failing (a broken setup)."""
        self._start_failures += 1
        log.warning("extract: a worker process %s", why)
        if self._start_failures >= _START_ATTEMPTS:
            self._stop(worker)
            raise ExtractError(f"{_START_ATTEMPTS} worker processes in a row failed to start; "
                               f"the last one {why}")
        self._replace(worker)

    # -- worker lifetime ------------------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        memory_bytes = self.memory_mb * 1024 * 1024
        if self._context is None:  # forked from the warm fork server
            process, parent = extract_server.server(_START_TIMEOUT).fork(memory_bytes)
        else:
            parent, child = self._context.Pipe()
            process = self._context.Process(target=_work, args=(child, memory_bytes), name="extract-worker",
                                            daemon=True)
            process.start()
            child.close()  # so the parent sees EOF the moment the worker dies
        return _Worker(process, parent, deadline=time.monotonic() + _START_TIMEOUT)

    def _replace(self, worker: _Worker) -> None:
        self._stop(worker)
        self._pool[self._pool.index(worker)] = self._spawn()

    @staticmethod
    def _stop(worker: _Worker) -> None:
        if worker.process.is_alive():
            worker.process.kill()  # SIGKILL: a page stuck inside lxml's C code never sees a Python signal
        worker.process.join()
        worker.conn.close()


def _extract_here(job: ExtractJob) -> Article:
    """extract_article in this process (workers=0, or no page): a bug on one page is that page's fallback."""
    try:
        return extract_article(*job)
    except Exception as exc:
        log.warning("extract: %s: extraction failed: %s: %s", job.item.url, type(exc).__name__, exc)
        return fallback_article(job.item, f"extraction failed: {type(exc).__name__}", failed=True)


def _context() -> multiprocessing.context.BaseContext | None:
    """None: workers fork from the extraction fork server (extract_server.py), a clean single-threaded process
    that has trafilatura imported and warmed, so a replacement starts in milliseconds and never inherits the
    scheduler's threads or locks (plain fork from a threaded service can deadlock); multiprocessing's spawn
    where there is no fork."""
    return None if extract_server.available() else multiprocessing.get_context("spawn")


_warm = False


def warm_up() -> None:
    """Pay extraction's first-use costs (jusText stoplists, regexes: ~0.16 s of CPU) in this process, once.
    The fork server does it at its start, so workers forked from it start warm."""
    global _warm
    if not _warm:
        extract_article(*_WARM_UP)
        _warm = True


def _work(conn: Connection, memory_bytes: int) -> None:
    """Worker loop: job in, Article (or _MEMORY, or an exception's name) out, until None or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us
    for name in ("trafilatura", "htmldate"):  # our notes say why a page fell back; spare the log
        logging.getLogger(name).setLevel(logging.CRITICAL)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    capped = (memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard), hard)
    lifted = (hard, hard)
    # lxml does not always raise when libxml2's malloc fails: it may hand back a truncated tree or
    # none. So a page that took the address space this close to the cap counts as having hit it.
    near_cap = capped[0] - max(4 << 20, capped[0] // 16)
    warm_up()  # first-use costs before any clock runs (nothing left to do when forked from the fork server)
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        if job.body is None:  # the page's bytes follow (the pool sends only jobs with a body)
            try:
                job = job._replace(body=conn.recv_bytes())
            except EOFError:
                return
        # The cap holds only while extracting, so receiving a job and sending the reply never fail
        # for want of memory; a soft limit may be raised back up to the hard one by the process itself.
        reply: object = _MEMORY
        resource.setrlimit(resource.RLIMIT_AS, capped)
        try:
            reply = extract_article(*job)
        except MemoryError:
            reply = _MEMORY
        except Exception as exc:  # a bug on a hostile page: report it, keep serving
            reply = exc
        finally:
            resource.setrlimit(resource.RLIMIT_AS, lifted)
        if isinstance(reply, Exception):
            reply = type(reply).__name__
        elif _vm_peak() >= near_cap:
            reply = _MEMORY
        try:
            conn.send(reply)
        except OSError:
            return  # the parent is gone


def _vm_peak() -> int:
    """Peak address-space size of this process in bytes (Linux), 0 where /proc does not say."""
    try:
        with open("/proc/self/status", "rb") as status:  # one read and a find: this runs after every page
            data = status.read()
        at = data.find(b"\nVmPeak:")
        if at >= 0:
            return int(data[at + 8:data.index(b"kB", at)]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"
