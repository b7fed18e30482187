"""Fetcher against real loopback HTTP servers: bodies, validators, gzip, caps, deadline, redirects, policy."""

from __future__ import annotations

import gzip
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from monitor.addresses import check_url, refused_reason
from monitor.config import FetchConfig
from monitor.errors import BlockedAddressError, FetchError, HTTPStatusError, TooLargeError
from monitor.fetch import MAX_REDIRECTS, Fetcher, Request
from tests.helpers import SITE
from tests.servers import SiteServer, serve_site


def fetcher(resolve=None, **config: object) -> Fetcher:
    settings = {"allow_private_networks": True, "deadline": 5.0, **config}
    return Fetcher(FetchConfig(**settings), resolve=resolve)


def strict_fetcher(resolve=None, **config: object) -> Fetcher:
    return fetcher(resolve=resolve, **{**config, "allow_private_networks": False})


@pytest.fixture(scope="module")
def module_site() -> Iterator[SiteServer]:
    """One fixture-site server for the module: conftest's per-test server costs 0.5 s to shut down."""
    site = SiteServer(SITE)
    server = serve_site(site)
    yield site
    server.shutdown()
    server.server_close()


@pytest.fixture
def site(module_site: SiteServer) -> SiteServer:
    """The module's server with no routes and no recorded requests (overrides conftest's `site`)."""
    module_site.routes.clear()
    module_site.requests.clear()
    return module_site


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], int]]:
    """A bare TCP server on 127.0.0.1 whose connection handler the test writes byte by byte."""
    sockets: list[socket.socket] = []

    def start(handle: Callable[[socket.socket], None]) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        sockets.append(listener)

        def accept_loop() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=_run_handler, args=(handle, conn), daemon=True).start()

        threading.Thread(target=accept_loop, daemon=True).start()
        return listener.getsockname()[1]

    yield start
    for listener in sockets:
        listener.close()


def _run_handler(handle: Callable[[socket.socket], None], conn: socket.socket) -> None:
    try:
        conn.recv(65536)  # the request head; these handlers ignore it
        handle(conn)
    except OSError:
        pass  # the client hung up, which is what the deadline tests expect
    finally:
        conn.close()


# -- plain GETs --------------------------------------------------------------------------------


def test_200_body_headers_and_user_agent(site):
    outcome = fetcher().fetch(Request(site.url("/feeds/northwire.xml"), kind="feed"))

    assert outcome.error is None
    response = outcome.response
    assert response.status == 200
    assert response.url == site.url("/feeds/northwire.xml")
    assert response.content_type == "application/rss+xml"
    assert b"<title>Northwire" in response.body
    assert site.base.encode() in response.body  # {base} was replaced by the server, bytes are intact
    assert all(name == name.lower() for name in response.headers)
    request = site.hits_for("/feeds/northwire.xml")[0]
    assert "news-monitor" in request.headers["user-agent"]
    assert "rss+xml" in request.headers["accept"]  # feed requests ask for feeds


def test_page_requests_ask_for_html(site):
    fetcher().fetch(Request(site.url("/articles/northwire/belarus-frees-31.html"), kind="page"))
    assert site.requests[0].headers["accept"].startswith("text/html")


def test_unconditional_request_sends_no_validators(site):
    fetcher().fetch(Request(site.url("/feeds/northwire.xml"), kind="feed"))
    headers = site.requests[0].headers
    assert "if-none-match" not in headers and "if-modified-since" not in headers


# -- conditional GET ----------------------------------------------------------------------------

ETAG = '"v42"'
LAST_MODIFIED = "Tue, 07 Oct 2025 14:30:00 GMT"


def _validating_handler(info):
    if info.headers.get("if-none-match") == ETAG or info.headers.get("if-modified-since") == LAST_MODIFIED:
        return 304, {"ETag": ETAG}, b""
    return 200, {"Content-Type": "application/rss+xml", "ETag": ETAG, "Last-Modified": LAST_MODIFIED}, \
        b"<rss version='2.0'><channel><title>t</title></channel></rss>"


def test_first_fetch_returns_validators(site):
    site.route("/cond.xml", _validating_handler)
    response = fetcher().fetch(Request(site.url("/cond.xml"), kind="feed")).response
    assert response.status == 200 and not response.not_modified
    assert response.etag == ETAG
    assert response.last_modified == LAST_MODIFIED


@pytest.mark.parametrize("etag, last_modified, sent", [
    (ETAG, None, {"if-none-match": ETAG}),
    (None, LAST_MODIFIED, {"if-modified-since": LAST_MODIFIED}),
    (ETAG, LAST_MODIFIED, {"if-none-match": ETAG, "if-modified-since": LAST_MODIFIED}),
])
def test_validators_are_sent_back_and_304_is_not_modified(site, etag, last_modified, sent):
    site.route("/cond.xml", _validating_handler)
    outcome = fetcher().fetch(Request(site.url("/cond.xml"), kind="feed", etag=etag,
                                      last_modified=last_modified))

    assert outcome.error is None
    assert outcome.response.not_modified
    assert outcome.response.status == 304
    assert outcome.response.body == b""
    headers = site.hits_for("/cond.xml")[0].headers
    for name, value in sent.items():
        assert headers[name] == value
    for name in {"if-none-match", "if-modified-since"} - set(sent):
        assert name not in headers


# -- encodings and size caps -----------------------------------------------------------------------


def test_gzip_body_is_decoded(site):
    plain = ("<html><body><p>" + "Minsk " * 2000 + "</p></body></html>").encode()
    site.route("/gz.html", (200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, gzip.compress(plain)))

    outcome = fetcher().fetch(Request(site.url("/gz.html")))

    assert outcome.error is None
    assert outcome.response.body == plain
    assert "gzip" in site.requests[0].headers["accept-encoding"]


@pytest.mark.parametrize("kind, cap_field", [("feed", "max_feed_bytes"), ("page", "max_page_bytes")])
def test_body_over_the_cap_is_refused(site, kind, cap_field):
    site.route("/big", (200, {"Content-Type": "text/plain"}, b"x" * 5000))
    outcome = fetcher(**{cap_field: 4096}).fetch(Request(site.url("/big"), kind=kind))
    assert isinstance(outcome.error, TooLargeError)
    assert "4096" in str(outcome.error)
    assert outcome.response is None


def test_body_at_the_cap_is_kept(site):
    site.route("/exact", (200, {"Content-Type": "text/plain"}, b"x" * 4096))
    outcome = fetcher(max_page_bytes=4096).fetch(Request(site.url("/exact")))
    assert outcome.error is None
    assert len(outcome.response.body) == 4096


def test_the_other_kinds_cap_does_not_apply(site):
    site.route("/big", (200, {"Content-Type": "text/plain"}, b"x" * 5000))
    outcome = fetcher(max_page_bytes=4096, max_feed_bytes=10_000).fetch(Request(site.url("/big"), kind="feed"))
    assert outcome.error is None and len(outcome.response.body) == 5000


def test_declared_content_length_over_the_cap_is_refused_before_reading(site):
    site.route("/declared", (200, {"Content-Type": "text/plain"}, b"y" * 100_000))
    outcome = fetcher(max_page_bytes=1000).fetch(Request(site.url("/declared")))
    assert isinstance(outcome.error, TooLargeError)
    assert "Content-Length 100000" in str(outcome.error)


def test_gzip_bomb_is_capped_on_decoded_size(site):
    bomb = gzip.compress(b"\0" * 4_000_000)
    assert len(bomb) < 10_000  # small on the wire, far over the cap once inflated
    site.route("/bomb", (200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, bomb))

    outcome = fetcher(max_page_bytes=64 * 1024).fetch(Request(site.url("/bomb")))

    assert isinstance(outcome.error, TooLargeError)
    assert "65536-byte cap" in str(outcome.error)


# -- deadline -----------------------------------------------------------------------------------


def test_trickling_body_is_cut_off_at_the_total_deadline(raw_server):
    sent: list[int] = []  # bytes of body the server got out before the client hung up
    done = threading.Event()

    def trickle(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 600\r\n\r\n")
        try:
            for _ in range(600):  # one byte every 0.1 s: each read is quick, the whole body takes 60 s
                conn.sendall(b"x")
                sent.append(1)
                time.sleep(0.1)
        finally:
            done.set()

    port = raw_server(trickle)
    outcome = fetcher(deadline=1.0, read_timeout=5.0).fetch(Request(f"http://127.0.0.1:{port}/slow"))

    assert isinstance(outcome.error, FetchError)
    assert "deadline" in str(outcome.error)
    assert outcome.response is None
    assert outcome.seconds >= 0.9  # not before the deadline
    # ...and at it: the client closed the connection, so the server's next writes failed long before the
    # 60 s body was out (each read was quick, so only the total deadline can have ended it)
    assert done.wait(30) and len(sent) < 600


def test_read_timeout_is_not_reported_as_the_deadline(raw_server):
    hung_up = threading.Event()  # the client closed the connection while the server stayed silent

    def headers_then_silence(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n")
        conn.settimeout(120)  # silent far longer than the 5 s deadline: only the client can end this
        if conn.recv(1) == b"":
            hung_up.set()

    port = raw_server(headers_then_silence)
    outcome = fetcher(deadline=5.0, read_timeout=0.3).fetch(Request(f"http://127.0.0.1:{port}/"))

    assert isinstance(outcome.error, FetchError)
    assert hung_up.wait(30)  # the client gave up on the silent server, and...
    assert "deadline" not in str(outcome.error)  # ...the read timeout, not the 5 s deadline, ended it
    assert "timeout" in str(outcome.error).lower() or "timed out" in str(outcome.error).lower()


# -- redirects ----------------------------------------------------------------------------------


def _chain(site, prefix: str, statuses: list[int]) -> str:
    """Routes prefix/0 -> prefix/1 -> ... with the given redirect statuses; the last hop answers 200."""
    for i, status in enumerate(statuses):
        site.route(f"{prefix}/{i}", (status, {"Location": f"{prefix}/{i + 1}"}, b""))
    site.route(f"{prefix}/{len(statuses)}", (200, {"Content-Type": "text/plain"}, b"arrived"))
    return site.url(f"{prefix}/0")


@pytest.mark.parametrize("hops", [1, 3, MAX_REDIRECTS])
def test_redirects_are_followed_up_to_the_limit(site, hops):
    start = _chain(site, "/r", [302] * hops)
    outcome = fetcher().fetch(Request(start))
    assert outcome.error is None
    assert outcome.response.body == b"arrived"
    assert outcome.response.url == site.url(f"/r/{hops}")
    assert len(site.requests) == hops + 1


def test_a_six_hop_chain_is_refused(site):
    start = _chain(site, "/r", [302] * (MAX_REDIRECTS + 1))
    outcome = fetcher().fetch(Request(start))
    assert isinstance(outcome.error, FetchError)
    assert f"more than {MAX_REDIRECTS} redirects" in str(outcome.error)
    assert outcome.error.url == start
    assert not site.hits_for(f"/r/{MAX_REDIRECTS + 1}")  # the final target was never asked for


@pytest.mark.parametrize("statuses, permanent", [
    ([301], True),
    ([308], True),
    ([301, 308, 301], True),
    ([302], False),
    ([307], False),
    ([303], False),
    ([301, 302], False),
    ([302, 301], False),
])
def test_permanent_redirect_is_set_only_for_an_all_permanent_chain(site, statuses, permanent):
    start = _chain(site, "/p", statuses)
    response = fetcher().fetch(Request(start)).response
    final = site.url(f"/p/{len(statuses)}")
    assert response.url == final
    assert response.permanent_redirect == (final if permanent else None)


def test_no_redirect_means_no_permanent_redirect(site):
    assert fetcher().fetch(Request(site.url("/feeds/northwire.xml"))).response.permanent_redirect is None


def test_relative_location_is_resolved_against_the_current_url(site):
    site.route("/a/b/start", (301, {"Location": "../c/end"}, b""))
    site.route("/a/c/end", (200, {}, b"relative ok"))
    response = fetcher().fetch(Request(site.url("/a/b/start"))).response
    assert response.body == b"relative ok"
    assert response.permanent_redirect == site.url("/a/c/end")


def test_validators_survive_a_redirect_and_304_comes_back(site):
    site.route("/moved.xml", (301, {"Location": "/cond.xml"}, b""))
    site.route("/cond.xml", _validating_handler)
    response = fetcher().fetch(Request(site.url("/moved.xml"), kind="feed", etag=ETAG)).response
    assert response.not_modified
    assert response.permanent_redirect == site.url("/cond.xml")


@pytest.mark.parametrize("location, message", [
    ("file:///etc/passwd", "scheme 'file'"),
    ("gopher://127.0.0.1:70/", "scheme 'gopher'"),
    ("http://user:secret@127.0.0.1/", "user-info"),
    ("http:\\\\127.0.0.1\\x", "backslashes"),
])
def test_each_redirect_hop_is_checked(site, location, message):
    site.route("/go", (302, {"Location": location}, b""))
    outcome = fetcher().fetch(Request(site.url("/go")))
    assert isinstance(outcome.error, BlockedAddressError)
    assert message in str(outcome.error)
    assert len(site.requests) == 1  # the refused target got nothing


# -- status errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 403, 404, 410, 500, 503])
def test_error_status_raises_http_status_error(site, status):
    site.route("/status", (status, {"Content-Type": "text/plain"}, b"no"))
    outcome = fetcher().fetch(Request(site.url("/status")))
    assert isinstance(outcome.error, HTTPStatusError)
    assert outcome.error.status == status
    assert outcome.error.url == site.url("/status")
    assert f"HTTP {status}" in str(outcome.error)
    assert outcome.response is None


def test_missing_fixture_page_is_404(site):
    outcome = fetcher().fetch(Request(site.url("/articles/minsk-monitor/hrodna-blogger-detained.html")))
    assert isinstance(outcome.error, HTTPStatusError) and outcome.error.status == 404


@pytest.mark.parametrize("retry_after", ["120", "Wed, 21 Oct 2026 07:28:00 GMT"])
def test_429_keeps_retry_after(site, retry_after):
    site.route("/busy", (429, {"Retry-After": retry_after}, b"slow down"))
    error = fetcher().fetch(Request(site.url("/busy"))).error
    assert isinstance(error, HTTPStatusError)
    assert error.status == 429
    assert error.retry_after == retry_after


def test_429_without_retry_after(site):
    site.route("/busy", (429, {}, b""))
    error = fetcher().fetch(Request(site.url("/busy"))).error
    assert error.status == 429 and error.retry_after is None


# -- address policy -----------------------------------------------------------------------------


@pytest.mark.parametrize("host", [
    "127.0.0.1", "[::1]", "169.254.169.254", "10.0.0.8", "100.64.1.2", "[::ffff:127.0.0.1]",
    "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "0.0.0.0", "192.168.1.10", "172.16.5.4", "[fe80::1]",
    "[fc00::5]", "224.0.0.251",
])
def test_private_ip_literals_are_refused_before_connecting(site, host):
    port = site.base.rsplit(":", 1)[1]
    url = f"http://{host}:{port}/feeds/northwire.xml"

    outcome = strict_fetcher().fetch(Request(url, kind="feed"))

    assert isinstance(outcome.error, BlockedAddressError)
    assert "allow_private_networks" in str(outcome.error)
    assert outcome.error.url == url
    assert site.requests == []  # the loopback server saw nothing


def test_loopback_server_is_unreachable_without_allow_private(site):
    outcome = strict_fetcher().fetch(Request(site.url("/feeds/northwire.xml")))
    assert isinstance(outcome.error, BlockedAddressError)
    assert "is loopback" in str(outcome.error)
    assert site.requests == []


@pytest.mark.parametrize("address, refused", [
    ("8.8.8.8", None),
    ("1.1.1.1", None),
    ("2606:4700:4700::1111", None),
    ("::ffff:8.8.8.8", None),  # an embedded public address is public
    ("64:ff9b::808:808", None),
    ("2002:808:808::", None),
    ("127.0.0.1", "is loopback"),
    ("127.255.0.9", "is loopback"),
    ("::1", "is loopback"),
    ("169.254.169.254", "is link-local"),
    ("fe80::1", "is link-local"),
    ("224.0.0.1", "is multicast"),
    ("ff02::1", "is multicast"),
    ("0.0.0.0", "is unspecified"),
    ("::", "is unspecified"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("10.1.2.3", "private or reserved"),
    ("172.16.0.1", "private or reserved"),
    ("192.168.0.1", "private or reserved"),
    ("fc00::1", "private or reserved"),
    ("192.0.2.1", "private or reserved"),
    ("198.18.0.1", "private or reserved"),
    ("255.255.255.255", "private or reserved"),
    ("2001:db8::1", "private or reserved"),
    ("::ffff:127.0.0.1", "embeds 127.0.0.1, which is loopback"),
    ("::ffff:10.0.0.1", "embeds 10.0.0.1"),
    ("64:ff9b::7f00:1", "embeds 127.0.0.1, which is loopback"),
    ("64:ff9b::a9fe:a9fe", "embeds 169.254.169.254, which is link-local"),
    ("2002:7f00:1::", "embeds 127.0.0.1, which is loopback"),
    ("2002:a00:1::", "embeds 10.0.0.1"),
])
def test_refused_reason(address, refused):
    reason = refused_reason(ipaddress.ip_address(address))
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and refused in reason


@pytest.mark.parametrize("address", ["::7f00:1", "fec0::1", "64:ff9b:1::7f00:1"])
def test_refused_reason_non_global_ipv6(address):
    assert refused_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("url, message", [
    ("ftp://example.com/feed", "scheme 'ftp'"),
    ("file:///etc/passwd", "scheme 'file'"),
    ("javascript:alert(1)", "scheme 'javascript'"),
    ("//example.com/feed", "scheme '(none)'"),
    ("example.com/feed", "scheme '(none)'"),
    ("http://user:pw@example.com/", "user-info"),
    ("http://user@example.com/", "user-info"),
    ("http://example.com@127.0.0.1/", "user-info"),
    ("http://example.com\\@127.0.0.1/", "backslashes"),
    ("http:\\\\example.com\\feed", "backslashes"),
    ("http:///feed", "no host"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[::ffff:169.254.169.254]/", "embeds 169.254.169.254"),
    ("http://[fd00::1]:8080/", "private or reserved"),
    ("http://100.100.100.200/", "carrier-grade NAT"),
    ("HTTP://127.0.0.1/", "is loopback"),
])
def test_check_url_refusals(url, message):
    with pytest.raises(BlockedAddressError) as info:
        check_url(url, allow_private=False)
    assert message in str(info.value)
    assert info.value.url == url


@pytest.mark.parametrize("url", [
    "https://example.com/feed.xml",
    "http://news.example.org:8080/rss?x=1",
    "https://8.8.8.8/",
    "https://[2606:4700:4700::1111]/",
])
def test_check_url_accepts_public_urls(url):
    check_url(url, allow_private=False)  # does not raise


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/x", "http://[::1]/", "http://10.0.0.1/"])
def test_allow_private_lets_private_literals_through_check_url(url):
    check_url(url, allow_private=True)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://u:p@127.0.0.1/", "http://a\\b/"])
def test_allow_private_still_refuses_schemes_userinfo_and_backslashes(url):
    with pytest.raises(BlockedAddressError):
        check_url(url, allow_private=True)


@pytest.mark.parametrize("addresses", [
    ["127.0.0.1"],
    ["10.0.0.1", "169.254.169.254"],
    ["::1", "fd12::1", "100.64.0.9"],
])
def test_resolver_seam_with_only_private_addresses_is_refused(site, addresses):
    port = site.base.rsplit(":", 1)[1]
    asked: list[str] = []

    def resolve(host: str) -> list[str]:
        asked.append(host)
        return addresses

    outcome = strict_fetcher(resolve=resolve).fetch(Request(f"http://news.test:{port}/feeds/northwire.xml"))

    assert asked == ["news.test"]
    assert isinstance(outcome.error, BlockedAddressError)
    assert "news.test resolves only to refused addresses" in str(outcome.error)
    for address in addresses:
        assert address in str(outcome.error)
    assert site.requests == []  # nothing reached the loopback server


def test_resolver_seam_is_used_for_connections(site):
    port = site.base.rsplit(":", 1)[1]
    outcome = fetcher(resolve=lambda host: ["127.0.0.1"] if host == "news.test" else []).fetch(
        Request(f"http://news.test:{port}/feeds/northwire.xml", kind="feed"))
    assert outcome.error is None
    assert outcome.response.status == 200
    assert site.requests[0].headers["host"] == f"news.test:{port}"


# -- batches ------------------------------------------------------------------------------------


def test_fetch_many_keeps_order_and_isolates_failures(site):
    def slow(_info):
        time.sleep(0.3)
        return 200, {"Content-Type": "text/plain"}, b"slow"

    site.route("/slow", slow)
    site.route("/fast", (200, {"Content-Type": "text/plain"}, b"fast"))
    requests = [
        Request(site.url("/slow")),
        Request(site.url("/missing")),
        Request("ftp://example.com/feed"),
        Request(site.url("/fast")),
        Request(site.url("/feeds/minsk-monitor.atom"), kind="feed"),
    ]

    outcomes = fetcher().fetch_many(requests)

    assert [o.request for o in outcomes] == requests
    assert outcomes[0].response.body == b"slow"
    assert isinstance(outcomes[1].error, HTTPStatusError) and outcomes[1].error.status == 404
    assert isinstance(outcomes[2].error, BlockedAddressError)
    assert outcomes[3].response.body == b"fast"
    assert b"Minsk Monitor" in outcomes[4].response.body
    assert all((o.response is None) != (o.error is None) for o in outcomes)


def test_fetch_many_runs_concurrently(site):
    # Each answer waits until all four requests are in the server at once: fetched one after another, the
    # first would wait in vain and fail; so four "ok"s prove the four were open together.
    together = threading.Barrier(4)

    def slow(_info):
        try:
            together.wait(timeout=20)
        except threading.BrokenBarrierError:
            return 503, {}, b"not all four requests arrived together"
        return 200, {}, b"ok"

    site.route("/slow", slow)
    outcomes = fetcher(per_host=4, deadline=60).fetch_many([Request(site.url(f"/slow?n={i}")) for i in range(4)])
    assert [o.response.body if o.response else o.error for o in outcomes] == [b"ok"] * 4


def test_fetch_many_of_nothing():
    assert fetcher().fetch_many([]) == []


def test_connection_refused_is_a_fetch_error():
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = fetcher().fetch(Request(f"http://127.0.0.1:{port}/"))
    assert type(outcome.error) is FetchError
    assert outcome.error.url == f"http://127.0.0.1:{port}/"


# -- webhooks -----------------------------------------------------------------------------------


def test_post_json_sends_body_and_returns_response(site):
    site.route("/hook", (200, {"Content-Type": "text/plain"}, b"ok"))
    response = fetcher().post_json(site.url("/hook"), b'{"text": "hi"}')
    assert response.status == 200 and response.body == b"ok"
    request = site.hits_for("/hook")[0]
    assert request.method == "POST"
    assert request.body == b'{"text": "hi"}'
    assert request.headers["content-type"] == "application/json"


def test_post_json_error_status_raises(site):
    site.route("/hook", (500, {"Retry-After": "30"}, b"broken"))
    with pytest.raises(HTTPStatusError) as info:
        fetcher().post_json(site.url("/hook"), b"{}")
    assert info.value.status == 500 and info.value.retry_after == "30"


def test_post_json_to_a_private_address_is_refused_without_allow_private(site):
    with pytest.raises(BlockedAddressError):
        strict_fetcher().post_json(site.url("/hook"), b"{}")
    assert site.requests == []
