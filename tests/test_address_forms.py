"""Every way of writing a refused address, on every path that connects: as a configured feed, as an
article link in a feed, as a redirect target, through `feeds test` and as a webhook. A counting server
on 127.0.0.1 must see no connection at all; a second loopback host (127.0.0.2) is the allowed site.
"""

from __future__ import annotations

import ipaddress
import random
import socket
import sqlite3
import threading

import pytest
import yarl
from click.testing import CliRunner

from monitor.addresses import check_url, connect_host, host_address
from monitor.cli import main
from monitor.config import FetchConfig
from monitor.errors import BlockedAddressError, FetchError
from monitor.fetch import Fetcher, Request
from tests.helpers import cli
from tests.servers import SiteServer, serve_site

# (what it is, how the host is written): each reaches 127.0.0.1 (or 0.0.0.0, or ::1) once normalised
FORMS = [
    ("enclosed digits", "①②⑦.0.0.1"),
    ("enclosed digits everywhere", "①②⑦.⓪.⓪.①"),
    ("full-width digits and dots", "１２７．０．０．１"),
    ("ideographic full stops", "127。0。0。1"),
    ("half-width ideographic full stops", "127｡0｡0｡1"),
    ("mathematical bold digits", "𝟏𝟐𝟕.0.0.1"),
    ("decimal", "2130706433"),
    ("hex", "0x7f000001"),
    ("hex first part", "0x7f.0.0.1"),
    ("octal first part", "0177.0.0.1"),
    ("octal", "017700000001"),
    ("short a.b", "127.1"),
    ("short a.b.c", "127.0.1"),
    ("IPv4-mapped IPv6", "[::ffff:127.0.0.1]"),
    ("IPv4-mapped IPv6, hex", "[::ffff:7f00:1]"),
    ("IPv4-mapped IPv6, long", "[0:0:0:0:0:ffff:127.0.0.1]"),
    ("IPv4-compatible IPv6", "[::127.0.0.1]"),
    ("trailing dot", "127.0.0.1."),
    ("two trailing dots", "127.0.0.1.."),
    ("localhost", "localhost"),
    ("LOCALHOST", "LOCALHOST"),
    ("localhost, trailing dot", "localhost."),
    ("full-width localhost", "ｌｏｃａｌｈｏｓｔ"),
    ("a .localhost name", "feeds.localhost"),
    ("localhost.localdomain", "localhost.localdomain"),
    ("0", "0"),
    ("enclosed zero", "⓪"),
    ("0.0.0.0", "0.0.0.0"),
    ("IPv6 unspecified", "[::]"),
    ("IPv6 loopback", "[::1]"),
    ("plain", "127.0.0.1"),
    ("short hex", "0x7f.1"),
    ("short octal", "0177.1"),
    ("zero-padded parts", "127.000.000.001"),
    ("circled letters (IDNA maps them to localhost)", "ⓛⓞⓒⓐⓛⓗⓞⓢⓣ"),
    ("mixed-case localhost, trailing dot", "LocalHost."),
    ("IPv4-mapped unspecified", "[::ffff:0.0.0.0]"),
    ("IPv6 loopback with a zone", "[::1%25lo]"),
]
IDS = [name for name, _ in FORMS]
FEED = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Leak</title><link>http://leak.test/</link>'
        b"<item><title>Reached the loopback server</title><link>http://leak.test/a</link>"
        b"<description>The policy let this through.</description></item></channel></rss>")


class CountingServer:
    """Counts every TCP connection accepted on 127.0.0.1 and answers each with a small valid feed, so
    a leak would show as a fetched feed, not only as a count."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.create_server(("127.0.0.1", port), backlog=64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nConnection: close\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(FEED), FEED))

    def url(self, host: str, path: str = "/feed.xml") -> str:
        return f"http://{host}:{self.port}{path}"


def raw_utf8(location: str) -> str:
    """A Location header sent as raw UTF-8 bytes, as a hostile server would (http.server writes latin-1)."""
    return location.encode("utf-8").decode("latin-1")


@pytest.fixture
def counter():
    server = CountingServer()
    yield server
    server.sock.close()


REFUSING = FetchConfig(allow_private_networks=False, deadline=5)


@pytest.mark.parametrize("name, host", FORMS, ids=IDS)
def test_check_url_reads_the_host_as_the_connection_will(name, host):
    url = f"http://{host}:8080/feed.xml"
    address = host_address(connect_host(url))
    assert address is not None and address.version in (4, 6)
    with pytest.raises(BlockedAddressError) as info:
        check_url(url, allow_private=False)
    assert any(word in str(info.value) for word in ("loopback", "unspecified"))


def test_enclosed_digits_reach_the_cloud_metadata_address_and_are_refused():
    assert connect_host("http://①⑥⑨.②⑤④.①⑥⑨.②⑤④/latest/") == "169.254.169.254"
    with pytest.raises(BlockedAddressError, match="means 169.254.169.254, which is link-local"):
        check_url("http://①⑥⑨.②⑤④.①⑥⑨.②⑤④/latest/", allow_private=False)


@pytest.mark.parametrize("host, address", [
    ("2130706433", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("10.1", "10.0.0.1"), ("0300.0250.1", "192.168.0.1"),
    ("0xa9fea9fe", "169.254.169.254"), ("134744072", "8.8.8.8"), ("example.com", None), ("256.1.1.1", None),
    ("08.1.1.1", None), ("1.2.3.4.5", None), ("xn--8hbcd", None), ("localhost.example.com", None),
])
def test_host_address_reads_legacy_numbers_like_the_c_resolver(host, address):
    found = host_address(host)
    assert (str(found) if found is not None else None) == address
    if address is not None and "." in host and not host.startswith("0"):  # agrees with the C library itself
        assert socket.inet_aton(host) == ipaddress.ip_address(address).packed


def test_a_public_address_in_any_form_is_allowed():
    assert check_url("http://１３４７４４０７２/", allow_private=False).host == "134744072"
    check_url("http://⑧.⑧.⑧.⑧/", allow_private=False)  # does not raise


def test_the_counting_server_counts_when_the_policy_allows(counter):
    """The control: with 127.0.0.1 allowed, the Unicode form does reach the server (and is fetched)."""
    allowed = Fetcher(FetchConfig(allow_networks=["127.0.0.1/32"], deadline=5))
    outcome = allowed.fetch(Request(counter.url("①②⑦.0.0.1"), "feed"))
    assert outcome.error is None and b"Reached the loopback server" in outcome.response.body
    assert counter.connections == 1


def test_every_form_is_refused_before_any_connection(counter):
    outcomes = Fetcher(REFUSING).fetch_many([Request(counter.url(host), "feed") for _, host in FORMS])
    for (name, _), outcome in zip(FORMS, outcomes, strict=True):
        assert isinstance(outcome.error, BlockedAddressError), (name, outcome.error)
    assert counter.connections == 0


def test_every_form_is_refused_as_a_redirect_target(counter, second_loopback_site):
    site = second_loopback_site
    for n, (_, host) in enumerate(FORMS):
        site.route(f"/hop/{n}", (302, {"Location": raw_utf8(counter.url(host))}, b""))
    fetcher = Fetcher(FetchConfig(allow_networks=["127.0.0.2/32"], deadline=5))
    outcomes = fetcher.fetch_many([Request(site.url(f"/hop/{n}"), "page") for n in range(len(FORMS))])
    for (name, _), outcome in zip(FORMS, outcomes, strict=True):
        assert isinstance(outcome.error, BlockedAddressError), (name, outcome.error)
    assert len(site.requests) == len(FORMS)  # every allowed first hop was fetched
    assert counter.connections == 0


@pytest.mark.parametrize("name, host", FORMS, ids=IDS)
def test_every_form_is_refused_as_a_webhook(counter, name, host):
    with pytest.raises(BlockedAddressError):
        Fetcher(REFUSING).post_json(counter.url(host, "/hooks/T0/B0/secret"), b'{"text": "x"}')
    assert counter.connections == 0


@pytest.mark.parametrize("name, host", FORMS[:6] + FORMS[13:14] + FORMS[19:20], ids=IDS[:6] + IDS[13:14] + IDS[19:20])
def test_feeds_test_refuses_every_form(counter, second_loopback_site, write_config, name, host):
    second_loopback_site.route("/moved", (301, {"Location": raw_utf8(counter.url(host))}, b""))
    config = write_config([], fetch={"allow_private_networks": False, "allow_networks": ["127.0.0.2/32"]})
    for url in (counter.url(host), second_loopback_site.url("/moved")):
        result = CliRunner().invoke(main, ["--config", str(config), "feeds", "test", url])
        assert result.exit_code == 1, result.output
        assert "fetch failed" in result.output and "Reached the loopback server" not in result.output
    assert counter.connections == 0


def test_the_connection_layer_holds_without_the_url_check(counter, monkeypatch):
    """With the URL-level check switched off (as a future code path might skip it), the resolver and
    the socket gate still let no connection through, whatever the form; an IP literal that reaches the
    socket gate comes back as a BlockedAddressError naming the address."""
    monkeypatch.setattr("monitor.fetch.check_url", lambda url, *_args: yarl.URL(url))
    outcomes = Fetcher(REFUSING).fetch_many([Request(counter.url(host), "feed") for _, host in FORMS])
    assert all(o.error is not None and o.response is None for o in outcomes)
    assert counter.connections == 0
    plain = outcomes[IDS.index("plain")].error
    assert isinstance(plain, BlockedAddressError) and "127.0.0.1 is loopback" in str(plain)
    enclosed = outcomes[IDS.index("enclosed digits")].error
    assert isinstance(enclosed, BlockedAddressError) and "127.0.0.1 is loopback" in str(enclosed)


VOCABULARY = ("harbour", "grain", "railway", "court", "ministry", "border", "timber", "fertiliser", "potash",
              "refinery", "airline", "tariff", "embassy", "parliament", "customs", "convoy", "bridge",
              "reservoir", "election", "verdict", "lawyer", "archive", "satellite", "pipeline", "festival",
              "museum", "orchestra", "tractor", "hospital", "vaccine")


def _feed_linking_to(urls: list[str]) -> bytes:
    """A feed whose items link to `urls`; each summary distinct, so none is folded as another's copy."""
    items = "".join(f"<item><title>{' '.join(random.Random(n).sample(VOCABULARY, 4))}</title><link>{url}</link>"
                    f"<guid>report-{n}</guid><description>{' '.join(random.Random(-n).sample(VOCABULARY, 16))}"
                    "</description></item>" for n, url in enumerate(urls))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Wire</title>'
            f"<link>http://127.0.0.2/</link>{items}</channel></rss>").encode()


def test_run_refuses_every_form_as_a_feed_an_article_link_and_a_redirect(counter, second_loopback_site,
                                                                          write_config, tmp_path):
    site = second_loopback_site
    for n, (_, host) in enumerate(FORMS):
        site.route(f"/go/{n}", (302, {"Location": raw_utf8(counter.url(host, f"/article/{n}"))}, b""))
    links = [counter.url(host, f"/article/{n}") for n, (_, host) in enumerate(FORMS)]
    links += [site.url(f"/go/{n}") for n in range(len(FORMS))]
    site.route("/wire.xml", (200, {"Content-Type": "application/rss+xml"}, _feed_linking_to(links)))
    feeds = [{"url": site.url("/wire.xml"), "name": "wire"}]
    feeds += [{"url": counter.url(host), "name": f"form-{n}"} for n, (_, host) in enumerate(FORMS)]
    feeds += [{"url": site.url(f"/go/{n}"), "name": f"redirect-{n}"} for n in range(len(FORMS))]
    config = write_config(feeds, fetch={"allow_private_networks": False, "allow_networks": ["127.0.0.2/32"]})

    run = cli(config, "run", "--once", timeout=180)
    assert run.returncode == 0, run.stderr
    assert counter.connections == 0
    listing = cli(config, "feeds").stdout
    for n, _ in enumerate(FORMS):
        for name in (f"form-{n}", f"redirect-{n}"):
            block = listing.split(f"{name}  ", 1)[1].split("\n", 2)[1]
            assert "failing since" in block and ("loopback" in block or "unspecified" in block), (name, block)
    assert "wire  " in listing and "ok (last success" in listing.split("wire  ", 1)[1].split("\n", 2)[1]
    with sqlite3.connect(config.parent / "state" / "monitor.db") as db:
        notes = dict(db.execute("SELECT url, text_note FROM articles"))
    assert set(notes) == set(links)  # every item kept, with its feed summary as text
    for url, note in notes.items():
        assert "loopback" in note or "unspecified" in note, (url, note)


def test_fetch_errors_name_the_url_as_written():
    outcome = Fetcher(REFUSING).fetch(Request("http://①②⑦.0.0.1:9/x", "page"))
    assert isinstance(outcome.error, FetchError) and outcome.error.url == "http://①②⑦.0.0.1:9/x"
    assert "①②⑦.0.0.1 means 127.0.0.1, which is loopback" in str(outcome.error)


METADATA = "①⑥⑨.②⑤④.①⑥⑨.②⑤④"  # enclosed digits for 169.254.169.254, the cloud metadata address


def test_the_metadata_address_in_enclosed_digits_is_refused_on_every_path(second_loopback_site, write_config):
    """As a feed, as a redirect target (from a site the policy allows), as a webhook and through `feeds test`:
    refused before any connection, naming the address it means."""
    site = second_loopback_site
    target = f"http://{METADATA}/latest/meta-data/iam/security-credentials/"
    site.route("/meta", (302, {"Location": raw_utf8(target)}, b""))
    fetcher = Fetcher(FetchConfig(allow_networks=["127.0.0.2/32"], deadline=5))
    outcomes = fetcher.fetch_many([Request(target, "feed"), Request(site.url("/meta"), "page")])
    for outcome in outcomes:
        assert isinstance(outcome.error, BlockedAddressError), outcome.error
        assert "means 169.254.169.254, which is link-local" in str(outcome.error)
    assert len(site.requests) == 1  # the allowed first hop only
    with pytest.raises(BlockedAddressError, match="169.254.169.254, which is link-local"):
        fetcher.post_json(target, b"{}")
    config = write_config([], fetch={"allow_private_networks": False, "allow_networks": ["127.0.0.2/32"]})
    for url in (target, site.url("/meta")):
        result = CliRunner().invoke(main, ["--config", str(config), "feeds", "test", url])
        assert result.exit_code == 1 and "169.254.169.254, which is link-local" in result.output, result.output


class Rebinding:
    """A resolver seam that answers an allowed address (127.0.0.2) first and a refused one (127.0.0.1) on every
    later lookup: DNS rebinding. Each answer is what aiohttp connects to, so the later one must be refused."""

    def __init__(self, later: list[str]) -> None:
        self.later = later
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        return ["127.0.0.2"] if len(self.asked) == 1 else self.later


@pytest.fixture
def same_port():
    """(an allowed site on 127.0.0.2, a counting server on 127.0.0.1) on one port number, so one name and port
    reach either, as the resolver answers. A port free on one address may be taken on the other: tried again."""
    for _ in range(50):
        site = SiteServer(None)
        server = serve_site(site, "127.0.0.2")
        try:
            counter = CountingServer(int(site.base.rsplit(":", 1)[1]))
        except OSError:
            server.shutdown()
            server.server_close()
            continue
        yield site, counter
        server.shutdown()
        server.server_close()
        counter.sock.close()
        return
    pytest.fail("no port free on both 127.0.0.1 and 127.0.0.2")


@pytest.mark.parametrize("later", [["127.0.0.1"], ["::1", "127.0.0.1"], ["10.0.0.5", "169.254.169.254"]])
def test_a_name_that_rebinds_to_a_refused_address_gets_no_connection(same_port, later):
    site, counter = same_port
    site.route("/feed.xml", (200, {"Content-Type": "application/rss+xml"}, FEED))
    resolve = Rebinding(later)
    fetcher = Fetcher(FetchConfig(allow_networks=["127.0.0.2/32"], deadline=5), resolve=resolve)
    url = f"http://rebind.test:{counter.port}/feed.xml"
    first = fetcher.fetch(Request(url, "feed"))  # the public answer: fetched from the allowed site
    assert first.error is None and b"Reached the loopback server" in first.response.body
    again = fetcher.fetch_many([Request(url, "feed"), Request(url + "?b", "page")])  # a new session asks again
    for outcome in again:  # refused by the resolver's filter, or by the socket gate behind it
        assert isinstance(outcome.error, BlockedAddressError), outcome.error
    assert len(resolve.asked) >= 2 and len(site.requests) == 1
    assert counter.connections == 0


def test_a_rebinding_answer_mixing_addresses_connects_only_to_the_allowed_one(same_port):
    """Refused addresses are dropped from an answer, wherever they stand in it: the connection goes to what is
    left, never to a refused address tried first or as a fallback."""
    site, counter = same_port
    site.route("/feed.xml", (200, {"Content-Type": "application/rss+xml"}, FEED))
    fetcher = Fetcher(FetchConfig(allow_networks=["127.0.0.2/32"], deadline=5),
                      resolve=lambda host: ["127.0.0.1", "127.0.0.2", "127.0.0.1"])
    outcomes = fetcher.fetch_many([Request(f"http://mixed.test:{counter.port}/feed.xml?n={n}") for n in range(3)])
    assert [o.error for o in outcomes] == [None] * 3
    assert len(site.requests) == 3 and counter.connections == 0
