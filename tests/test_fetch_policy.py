"""The address policy on every redirect hop, through a loopback redirector and a resolver seam (no
packet goes to a refused address), and the global and per-host concurrency limits."""

from __future__ import annotations

import threading
import time

import pytest

from monitor.config import FetchConfig
from monitor.errors import BlockedAddressError
from monitor.fetch import Fetcher, Request

LOOPBACK_ONLY = {"allow_private_networks": False, "allow_networks": ["127.0.0.1/32"], "deadline": 5}


def seam(table: dict[str, list[str]], asked: list[str]):
    def resolve(host: str) -> list[str]:
        asked.append(host)
        return table[host]
    return resolve


@pytest.mark.parametrize("target, resolved", [
    ("http://10.0.0.5/feed.xml", []),                 # private literal: refused without resolving
    ("http://169.254.169.254/latest/meta-data", []),  # cloud metadata
    ("http://[::ffff:10.0.0.5]/x", []),               # IPv4-mapped IPv6
    ("http://[64:ff9b::a00:5]/x", []),                # NAT64
    ("http://internal.test/x", ["internal.test"]),    # a name that resolves to a private address
    ("http://twice.test/x", ["twice.test"]),          # every address private: nothing left to connect to
])
def test_a_redirect_to_a_refused_address_is_refused_at_that_hop(site, target, resolved):
    site.route("/hop", (302, {"Location": target}, b""))
    asked: list[str] = []
    resolve = seam({"internal.test": ["10.0.0.5"], "twice.test": ["10.0.0.6", "fd00::6"]}, asked)
    outcome = Fetcher(FetchConfig(**LOOPBACK_ONLY), resolve=resolve).fetch(Request(site.url("/hop")))
    assert isinstance(outcome.error, BlockedAddressError), outcome.error
    assert len(site.hits_for("/hop")) == 1  # the allowed first hop was fetched
    assert asked == resolved  # names are resolved, then refused before any connect


def test_the_default_policy_refuses_loopback_before_sending_anything(site):
    outcome = Fetcher(FetchConfig()).fetch(Request(site.url("/feeds/northwire.xml")))
    assert isinstance(outcome.error, BlockedAddressError)
    assert site.requests == []


def test_allow_networks_admits_only_the_listed_ranges(site):
    ok = Fetcher(FetchConfig(**LOOPBACK_ONLY)).fetch(Request(site.url("/feeds/northwire.xml")))
    assert ok.response is not None and ok.response.status == 200
    other = Fetcher(FetchConfig(allow_networks=["10.0.0.0/8"])).fetch(Request(site.url("/feeds/northwire.xml")))
    assert isinstance(other.error, BlockedAddressError)


def test_global_and_per_host_limits_hold(make_server):
    servers = [make_server(None) for _ in range(2)]  # two hosts (ports)
    active: dict[str, int] = {}
    peak: dict[str, int] = {}
    lock = threading.Condition()
    # Each answer waits (up to 10 s) until the peak the run expects is reached, so a loaded machine that is
    # slow to issue the requests cannot make them miss each other; a wrong limit still shows in the peak.
    expected: dict[str, int] = {}

    def slow(server_id: str):
        def handler(_req):
            with lock:
                for key in (server_id, "all"):
                    active[key] = active.get(key, 0) + 1
                    peak[key] = max(peak.get(key, 0), active[key])
                lock.notify_all()
                lock.wait_for(lambda: all(peak.get(k, 0) >= n for k, n in expected.items()), timeout=10)
            time.sleep(0.15)
            with lock:
                for key in (server_id, "all"):
                    active[key] -= 1
            return 200, {"Content-Type": "text/html"}, b"<html>ok</html>"
        return handler

    for i, server in enumerate(servers):
        server.route("/slow", slow(str(i)))
    def run(requests: list[Request], expect: dict[str, int], **limits: int) -> None:
        peak.clear()
        expected.clear()
        expected.update(expect)
        fetcher = Fetcher(FetchConfig(allow_private_networks=True, deadline=20, **limits))
        outcomes = fetcher.fetch_many(requests)
        assert all(o.response is not None and o.response.status == 200 for o in outcomes)
        # parallel, not in a row: the peaks the servers saw (asserted below) say so without a clock

    one_host = [Request(f"{servers[0].url('/slow')}?n={n}") for n in range(9)]
    run(one_host, {"0": 3}, concurrency=10, per_host=3)
    assert peak["0"] == 3  # the per-host limit binds
    both = [Request(f"{s.url('/slow')}?n={n}") for n in range(6) for s in servers]
    run(both, {"all": 4}, concurrency=4, per_host=3)
    assert peak["all"] == 4 and max(peak["0"], peak["1"]) <= 3  # the global limit binds


@pytest.fixture
def counting_site():
    """The fixture site on a loopback server that counts the connections it accepted."""
    from http.server import ThreadingHTTPServer

    from tests.helpers import SITE
    from tests.servers import SiteServer, serve_site

    class Counting(ThreadingHTTPServer):
        accepted = 0

        def verify_request(self, request, client_address) -> bool:  # once per accepted connection
            self.accepted += 1
            return True

    site = SiteServer(SITE)
    server = serve_site(site, server_class=Counting)
    yield site, server
    server.shutdown()
    server.server_close()


def test_a_cycles_batches_in_one_kept_session_get_the_same_outcomes_over_kept_connections(counting_site):
    """Fetcher.kept_open: the batches of a cycle share one loop and session, so their connections are kept;
    each request's outcome is what a batch fetched alone (its own session) gets."""
    site, server = counting_site
    site.route("/hop", (302, {"Location": "/feeds/northwire.xml"}, b""))
    paths = ["/feeds/northwire.xml", "/feeds/baltic-ledger.rdf", "/hop", "/feeds/minsk-monitor.atom"]
    batches = [[Request(site.url(p)) for p in paths] for _ in range(3)]
    fetcher = Fetcher(FetchConfig(allow_private_networks=True, deadline=20, concurrency=2, per_host=2))

    def seen(outcomes) -> list:
        return [(o.request.url, o.response and (o.response.url, o.response.status, o.response.body),
                 type(o.error).__name__, o.failure) for o in outcomes]

    alone = [seen(fetcher.fetch_many(batch)) for batch in batches]
    apart = server.accepted
    with fetcher.kept_open():
        kept = [seen(fetcher.fetch_many(batch)) for batch in batches]
        with fetcher.kept_open():  # nested: the same session, kept by the outer one
            kept.append(seen(fetcher.fetch_many(batches[0])))
    together = server.accepted - apart
    assert kept == alone + alone[:1]
    assert [outcome[1][1] for outcome in alone[0]] == [200] * 4 and alone[0][2][1][0].endswith("/northwire.xml")
    assert apart >= 3 and together <= 2  # a session a batch connects each time; the kept one at most per_host
    assert seen(fetcher.fetch_many(batches[0])) == alone[0]  # closed on the way out: a batch alone works again


def test_redirects_on_a_host_with_one_slot_wait_for_it_and_all_arrive(site):
    """With per_host 1, every request's redirect hop to the same host waits for that host's only slot (given
    back by the hop before): none deadlocks and none is cut off by a deadline spent in the queue."""
    for n in range(8):
        site.route(f"/moved/{n}", (301, {"Location": "/feeds/northwire.xml" if n % 2 else f"/story/{n}"}, b""))
        site.route(f"/story/{n}", (200, {"Content-Type": "text/html"}, f"<html>story {n}</html>".encode()))
    fetcher = Fetcher(FetchConfig(allow_private_networks=True, deadline=20, concurrency=4, per_host=1))
    outcomes = fetcher.fetch_many([Request(site.url(f"/moved/{n}")) for n in range(8)])
    assert [o.error for o in outcomes] == [None] * 8
    assert [(o.response.status, o.response.permanent_redirect is not None) for o in outcomes] == [(200, True)] * 8
    assert [o.response.body for o in outcomes[::2]] == [f"<html>story {n}</html>".encode() for n in range(0, 8, 2)]
