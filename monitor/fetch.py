"""All HTTP: one aiohttp client for feeds, pages and webhooks, with timeouts, a total deadline,
decoded-size caps, conditional GET, manual redirects and the address policy (monitor.addresses),
checked on each URL, on each resolved address and on the address of every socket before it connects.

Nothing else in news-monitor opens a socket to the web; callers get bytes and headers back. The one
library that makes its own connections (Apprise, for chat channels) runs inside `guarded_connections`,
where every socket the process connects in that context is judged by the same policy.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from monitor.addresses import Networks, address_verdict, check_url
from monitor.config import FetchConfig
from monitor.errors import BlockedAddressError, FetchError, HTTPStatusError, TooLargeError
from monitor.guard import RefusedConnection

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024

# A resolver seam: host -> addresses. Tests use it to see that refused addresses get no packet.
Resolve = Callable[[str], Sequence[str]]
AddrInfo = tuple[int, int, int, str, tuple]  # getaddrinfo's (family, type, proto, canonname, sockaddr)


@dataclass(frozen=True)
class Request:
    url: str
    kind: str = "page"  # "feed" or "page": picks the size cap
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Response:
    url: str  # the final URL, after redirects
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    permanent_redirect: str | None = None  # where a 301/308 chain ended, when it began with one

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass(frozen=True)
class Outcome:
    request: Request
    response: Response | None = None
    error: FetchError | None = None
    seconds: float = 0.0
    failure: str | None = None  # why there is no response, in a few words for per-cycle counts


PAST_DEADLINE = "past the deadline"


def _failure(error: FetchError) -> str:
    if isinstance(error, HTTPStatusError):
        return f"HTTP {error.status}"
    if isinstance(error, BlockedAddressError):
        return "refused by the address policy"
    return "over the size cap" if isinstance(error, TooLargeError) else "connection or read error"


class _PolicyResolver(AbstractResolver):
    """Resolves, then drops every refused address; connects only to what is left."""

    def __init__(self, allow_private: bool, allow_networks: Networks, resolve: Resolve | None):
        self._allow_private = allow_private
        self._allow_networks = allow_networks
        self._resolve = resolve
        self._system = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if self._resolve is not None:
            results = [_result(host, addr, port) for addr in self._resolve(host)]
        else:
            results = await self._system.resolve(host, port, family)
        if self._allow_private:
            return results
        allowed, refused = [], []
        for res in results:
            reason = address_verdict(res["host"], False, self._allow_networks)
            (refused if reason else allowed).append(f"{res['host']} {reason}")
            if not reason:
                allowed[-1] = res
        if not allowed:
            raise BlockedAddressError(f"{host} resolves only to refused addresses: {', '.join(refused)} "
                                      "(set fetch.allow_private_networks to allow them)")
        return allowed

    async def close(self) -> None:
        await self._system.close()


def _result(host: str, addr: str, port: int) -> ResolveResult:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    return {"hostname": host, "host": addr, "port": port, "family": family, "proto": 0, "flags": 0}


def _socket_gate(allow_private: bool, allow_networks: Networks) -> Callable[[AddrInfo], socket.socket]:
    """aiohttp's socket factory: every socket aiohttp connects is made here, with the address it is
    about to connect to. aiohttp skips the resolver for an IP-literal host (and yarl turns
    `①②⑦.0.0.1` into one), so this, not the resolver, is the check no path can go around."""

    def open_socket(addr_info: AddrInfo) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        reason = address_verdict(sockaddr[0], allow_private, allow_networks)
        if reason:
            raise RefusedConnection(f"{ipaddress.ip_address(sockaddr[0])} {reason} "
                                    "(set fetch.allow_private_networks to allow it)")
        return socket.socket(family, type_, proto)

    return open_socket


class _Deadline:
    """A request's total deadline, paused while the request waits for a connection slot (the global
    and per-host limits): it measures the request, not the queue in front of it. Without the pause
    an aggregator feed whose links all sit on one host timed out healthy pages (issue 9). Kept by the
    batch's `_Deadlines`, which ends the request through its `timeout` once `when` has come."""

    __slots__ = ("_deadlines", "timeout", "when", "_left")

    def __init__(self, deadlines: _Deadlines, timeout: asyncio.Timeout, when: float):
        self._deadlines = deadlines
        self.timeout = timeout  # entered with no deadline of its own: `_Deadlines` makes it expire
        self.when: float | None = when  # the event loop's time it ends at; None while paused or once ended
        self._left: float | None = None  # seconds left while paused

    def pause(self) -> None:
        if self._left is None and self.when is not None and not self.timeout.expired():
            self._left = self.when - self._deadlines.loop.time()
            self.when = None

    def resume(self) -> None:
        if self._left is not None and not self.timeout.expired():
            self.when = self._deadlines.loop.time() + self._left
            self._deadlines.arm(self.when)
        self._left = None


class _Deadlines:
    """The total deadline of each request of a batch, kept by one timer for them all: it fires when the earliest
    running request's deadline comes, ends every request whose deadline has come through that request's own
    `asyncio.timeout(None)` (rescheduled to its deadline: each ends as under `asyncio.timeout(deadline)`, a
    TimeoutError where it awaits, when its deadline comes), and is set again for the next. A timer per request
    (`asyncio.timeout`, made and cancelled on the event loop's heap for every request) cost ~3 µs of CPU a
    request, 1-2% of an unchanged feed's poll; this one fires about once a deadline: requests end long before."""

    def __init__(self, seconds: float):
        self.loop = asyncio.get_running_loop()
        self._seconds = seconds
        self._running: set[_Deadline] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._at = math.inf  # when the timer fires

    def start(self, timeout: asyncio.Timeout) -> _Deadline:
        """The deadline of a request that entered `timeout` just now (an `asyncio.timeout(None)`)."""
        deadline = _Deadline(self, timeout, self.loop.time() + self._seconds)
        self._running.add(deadline)
        self.arm(deadline.when)  # type: ignore[arg-type]  # just set
        return deadline

    def end(self, deadline: _Deadline) -> None:
        """The request ended (answered, failed or past its deadline): no longer watched."""
        deadline.when = None
        self._running.discard(deadline)

    def arm(self, when: float) -> None:
        """The timer fires by `when` (a running request's deadline)."""
        if when < self._at:
            if self._timer is not None:
                self._timer.cancel()
            self._at = when
            self._timer = self.loop.call_at(when, self._sweep)

    def close(self) -> None:
        """The batch is over: no timer is left on the loop (a kept loop runs the next batch)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._at = None, math.inf

    def _sweep(self) -> None:
        self._timer, self._at = None, math.inf
        now = self.loop.time()
        soonest = math.inf
        for deadline in self._running:
            when = deadline.when
            if when is None:  # paused
                continue
            if when <= now:
                deadline.when = None  # expiring: asyncio cancels the request's await, as at its own timer
                deadline.timeout.reschedule(when)
            elif when < soonest:
                soonest = when
        if soonest < math.inf:
            self.arm(soonest)


class _Slots:
    """The connection limits (fetch.concurrency, fetch.per_host), kept by the fetcher itself. A batch is worked
    by fetch.concurrency workers (the global limit), each taking the oldest waiting request of a host with a
    free slot (per scheme, host and port: aiohttp's pool key). A request's deadline starts when a worker takes
    it, so it measures the request, not the queue in front of it; a redirect to a host whose slots are all
    taken waits with its deadline paused. aiohttp's connector keeps the same limits as a backstop.

    Workers rather than a task per request that waits on semaphores: at 1,000 requests a batch, the tasks and
    their waits cost more CPU per request than the rest of the fetcher's own work (and trace hooks, which
    aiohttp would need to show its own queue, cost more still)."""

    def __init__(self, per_host: int):
        self._per_host = per_host
        self._busy: dict[tuple, int] = {}  # host key -> requests connected or connecting to it
        self._queued: dict[tuple, collections.deque] = {}  # host key -> (index, ...) of requests not taken yet
        self._ready: collections.deque = collections.deque()  # hosts with a queued request and a free slot
        self._marked: set[tuple] = set()  # the hosts in _ready
        self._idle: collections.deque = collections.deque()  # workers waiting for a host to become ready
        self._hops: dict[tuple, collections.deque] = {}  # redirects waiting for a slot of a full host

    def queue(self, key: tuple, item: object) -> None:
        self._queued.setdefault(key, collections.deque()).append(item)
        if self._busy.get(key, 0) < self._per_host:
            self._mark(key)

    async def next(self) -> tuple[tuple, object] | None:
        """A queued request whose host slot is now taken, as (host key, item); None when none is left."""
        while True:
            while not self._ready:
                if not self._queued:
                    return None
                waiter = asyncio.get_running_loop().create_future()
                self._idle.append(waiter)
                await waiter
            key = self._ready.popleft()
            self._marked.discard(key)
            waiting = self._queued.get(key)
            busy = self._busy.get(key, 0)
            if waiting is None or busy >= self._per_host:  # a redirect took the last slot meanwhile
                continue
            item = waiting.popleft()
            self._busy[key] = busy + 1
            if not waiting:
                del self._queued[key]
                if not self._queued:
                    self._wake_all()  # nothing left to take: the idle workers end
            elif busy + 1 < self._per_host:
                self._mark(key)
            return key, item

    async def take(self, key: tuple, clock: _Deadline) -> None:
        """A slot of the host `key` for a redirect hop; waits (deadline paused) while the host is full."""
        if self._busy.get(key, 0) < self._per_host and not self._hops.get(key):
            self._busy[key] = self._busy.get(key, 0) + 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._hops.setdefault(key, collections.deque()).append(waiter)
        clock.pause()
        try:
            await waiter  # `give` hands its slot over
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.give(key)  # handed over, but this request ends here
            raise
        finally:
            clock.resume()

    def give(self, key: tuple) -> None:
        """A hop to the host `key` ended: its slot goes to a waiting redirect, else to the host's queue."""
        hops = self._hops.get(key)
        while hops:
            waiter = hops.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._hops.pop(key, None)
        self._busy[key] -= 1
        if key in self._queued:
            self._mark(key)

    def _mark(self, key: tuple) -> None:
        """The host has a queued request and a free slot: a worker may take it."""
        if key not in self._marked:
            self._marked.add(key)
            self._ready.append(key)
            self._wake_one()

    def _wake_one(self) -> None:
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _wake_all(self) -> None:
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)


def _host_key(url: yarl.URL) -> tuple:
    """aiohttp's connection-pool key, which the per-host limit follows: scheme, host and port."""
    return url.scheme, url.raw_host, url.port


def _connect_error(exc: aiohttp.ClientConnectorError, url: str) -> FetchError:
    """A refusal by the socket gate is a BlockedAddressError; other connect failures are FetchErrors."""
    if isinstance(exc.os_error, RefusedConnection):
        return BlockedAddressError(str(exc.os_error), url=url)
    return FetchError(f"{type(exc).__name__}: {exc}", url=url)


@dataclass
class Fetcher:
    """The one HTTP client. `fetch_many` runs a batch concurrently and never raises per request."""

    config: FetchConfig
    resolve: Resolve | None = None  # seam for tests; None uses the system resolver
    _caps: dict[str, int] = field(init=False)
    _networks: Networks = field(init=False)
    _kept: threading.local = field(init=False)  # this thread's loop and session while `kept_open`

    def __post_init__(self) -> None:
        self._caps = {"feed": self.config.max_feed_bytes, "page": self.config.max_page_bytes}
        self._networks: Networks = tuple(ipaddress.ip_network(n) for n in self.config.allow_networks)
        self._kept = threading.local()

    def fetch_many(self, requests: Sequence[Request], done: Callable[[], None] | None = None) -> list[Outcome]:
        """Fetch every request (global and per-host limits apply); one Outcome per request, in order. `done`
        is called as each request ends, fetched or failed (progress on a terminal)."""
        if not requests:
            return []
        runner = getattr(self._kept, "runner", None)
        if runner is None:
            return asyncio.run(self._fetch_all(requests, done))
        return runner.run(self._fetch_all(requests, done, keep=True))

    @contextlib.contextmanager
    def kept_open(self) -> Iterator[None]:
        """Within: this thread's `fetch_many` calls share one event loop and one aiohttp session, so a cycle's
        batches keep their connections alive instead of connecting again for each batch (with a session per
        batch, an unchanged 10,000-feed cycle cost ~20 µs more CPU a feed). Every request is still checked,
        limited and timed as alone; the session is closed on the way out."""
        kept = self._kept
        if getattr(kept, "runner", None) is not None:  # nested: the outer one keeps and closes it
            yield
            return
        kept.runner, kept.session = asyncio.Runner(), None
        try:
            yield
        finally:
            runner, session = kept.runner, kept.session
            kept.runner = kept.session = None
            try:
                if session is not None:
                    runner.run(session.close())
            finally:
                runner.close()

    def fetch(self, request: Request) -> Outcome:
        return self.fetch_many([request])[0]

    def post_json(self, url: str, body: bytes, deadline: float | None = None,
                  headers: dict[str, str] | None = None) -> Response:
        """POST a JSON body (webhooks) within `deadline` seconds (default: the fetch deadline), with extra
        `headers` (a signature). Raises FetchError on failure, HTTPStatusError (status, Retry-After) on a
        non-2xx answer; redirects are not followed (a 3xx is an HTTPStatusError)."""
        return asyncio.run(self._post(url, body, min(deadline or self.config.deadline, self.config.deadline),
                                      headers or {}))

    # -- internals ---------------------------------------------------------------------------

    def _session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.config.concurrency, limit_per_host=self.config.per_host,
            resolver=_PolicyResolver(self.config.allow_private_networks, self._networks, self.resolve),
            socket_factory=_socket_gate(self.config.allow_private_networks, self._networks))
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.config.connect_timeout,
                                        sock_read=self.config.read_timeout)
        return aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=True, trust_env=False,
            headers={"User-Agent": self.config.user_agent, "Accept-Encoding": "gzip, deflate"})

    async def _fetch_all(self, requests: Sequence[Request], done: Callable[[], None] | None = None,
                         keep: bool = False) -> list[Outcome]:
        slots = _Slots(self.config.per_host)
        outcomes: list[Outcome | None] = [None] * len(requests)
        for i, request in enumerate(requests):
            try:  # a refused URL is refused before any queue: no slot, no packet
                target = check_url(request.url, self.config.allow_private_networks, self._networks)
            except FetchError as exc:
                error = exc.at(request.url)
                outcomes[i] = Outcome(request, error=error, failure=_failure(error))
                if done is not None:
                    done()
                continue
            slots.queue(_host_key(target), (i, target))

        async def work(session: aiohttp.ClientSession, deadlines: _Deadlines) -> None:
            while (taken := await slots.next()) is not None:
                key, (i, target) = taken
                outcomes[i] = await self._fetch_one(session, slots, deadlines, requests[i], key, target)
                if done is not None:
                    done()

        async def work_all(session: aiohttp.ClientSession) -> None:
            deadlines = _Deadlines(self.config.deadline)
            workers = [asyncio.ensure_future(work(session, deadlines))
                       for _ in range(min(self.config.concurrency, len(requests)))]
            try:
                await asyncio.gather(*workers)
            except BaseException:  # the others stop too: none is left running on a loop that is kept
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                raise
            finally:
                deadlines.close()

        if keep:  # the session of `kept_open`, made in its loop on first use
            session = self._kept.session
            if session is None:
                session = self._kept.session = self._session()
            await work_all(session)
        else:
            async with self._session() as session:
                await work_all(session)
        return outcomes  # type: ignore[return-value]  # every request has its outcome by now

    async def _fetch_one(self, session: aiohttp.ClientSession, slots: _Slots, deadlines: _Deadlines,
                         request: Request, key: tuple, target: yarl.URL) -> Outcome:
        """One request, its first hop's slot (host `key`, URL `target` as checked) already taken; its total
        deadline starts now."""
        started = time.monotonic()
        try:
            async with (timeout := asyncio.timeout(None)):
                clock = deadlines.start(timeout)
                try:
                    response = await self._get(session, slots, request, key, target, clock)
                finally:
                    deadlines.end(clock)
            return Outcome(request, response=response, seconds=time.monotonic() - started)
        except FetchError as exc:
            error = exc.at(request.url)
        except aiohttp.ServerTimeoutError as exc:  # a TimeoutError too: the socket timeouts, not the deadline
            error = FetchError(f"timed out ({exc or 'connect/read timeout'}; connect {self.config.connect_timeout:g}s,"
                               f" read {self.config.read_timeout:g}s)", url=request.url)
        except TimeoutError:
            error = FetchError(f"no complete answer within the {self.config.deadline:g}s deadline",
                               url=request.url)
            return Outcome(request, error=error, seconds=time.monotonic() - started, failure=PAST_DEADLINE)
        except aiohttp.ClientConnectorError as exc:
            error = _connect_error(exc, request.url)
        except aiohttp.ClientError as exc:
            error = FetchError(f"{type(exc).__name__}: {exc}", url=request.url)
        except (OSError, ValueError, UnicodeError) as exc:
            error = FetchError(f"{type(exc).__name__}: {exc}", url=request.url)
        return Outcome(request, error=error, seconds=time.monotonic() - started, failure=_failure(error))

    async def _get(self, session: aiohttp.ClientSession, slots: _Slots, request: Request, key: tuple,
                   target: yarl.URL, clock: _Deadline) -> Response:
        headers = {"Accept": _ACCEPT[request.kind]}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        url, permanent = request.url, None
        all_permanent = True
        for hop in range(MAX_REDIRECTS + 1):
            if hop:  # every hop's URL is checked, and waits for a slot of its own host
                target = check_url(url, self.config.allow_private_networks, self._networks)
                key = _host_key(target)
                await slots.take(key, clock)
            try:
                async with session.get(target, headers=headers, allow_redirects=False) as resp:
                    if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                        all_permanent = all_permanent and resp.status in (301, 308)
                        url = urljoin(url, resp.headers["Location"])
                        permanent = url if all_permanent else None
                        continue
                    resp_headers = {k.lower(): v for k, v in resp.headers.items()}
                    if resp.status == 304:
                        return Response(url, 304, resp_headers, b"", permanent)
                    if resp.status >= 400:
                        raise HTTPStatusError(f"HTTP {resp.status} {resp.reason or ''}".strip(), url=url,
                                              status=resp.status, retry_after=resp_headers.get("retry-after"))
                    body = await self._read_capped(resp, self._caps[request.kind], url)
                    return Response(url, resp.status, resp_headers, body, permanent)
            finally:
                slots.give(key)
        raise FetchError(f"more than {MAX_REDIRECTS} redirects", url=request.url)

    @staticmethod
    async def _read_capped(resp: aiohttp.ClientResponse, cap: int, url: str) -> bytes:
        declared = resp.content_length
        if declared is not None and not resp.headers.get("Content-Encoding"):
            if declared > cap:
                raise TooLargeError(f"Content-Length {declared} is over the {cap}-byte cap", url=url)
            # an unencoded body ends at its Content-Length (aiohttp's parser reads no further), within the cap:
            # read whole, without the chunk loop a capped read needs for what is encoded or has no length
            return await resp.read()
        chunks, size = [], 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)  # aiohttp hands us decoded bytes: the cap counts what we would keep
            if size > cap:
                raise TooLargeError(f"body is over the {cap}-byte cap", url=url)
            chunks.append(chunk)
        return b"".join(chunks)

    async def _post(self, url: str, body: bytes, deadline: float, headers: dict[str, str]) -> Response:
        async with self._session() as session:
            try:
                async with asyncio.timeout(deadline):
                    target = check_url(url, self.config.allow_private_networks, self._networks)
                    async with session.post(target, data=body, allow_redirects=False,
                                            headers={**headers, "Content-Type": "application/json"}) as resp:
                        text = await self._read_capped(resp, 64 * 1024, url)
                        headers = {k.lower(): v for k, v in resp.headers.items()}
                        if resp.status >= 300:
                            detail = text[:200].decode("utf-8", "replace")
                            raise HTTPStatusError(f"HTTP {resp.status}: {detail}", url=url,
                                                  status=resp.status,
                                                  retry_after=headers.get("retry-after"))
                        return Response(url, resp.status, headers, text)
            except TimeoutError:
                raise FetchError(f"no answer within the {deadline:g}s deadline", url=url) from None
            except aiohttp.ClientConnectorError as exc:
                raise _connect_error(exc, url) from None
            except aiohttp.ClientError as exc:
                raise FetchError(f"{type(exc).__name__}: {exc}", url=url) from None


_ACCEPT = {
    "feed": "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
            "text/xml;q=0.9, */*;q=0.5",
    "page": "text/html, application/xhtml+xml;q=0.9, */*;q=0.5",
}
