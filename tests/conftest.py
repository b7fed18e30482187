"""Shared fixtures: a real HTTP server on 127.0.0.1 serving the fixture site (and any extra routes a
test adds), config files written into a temp dir, and the path to ../shared when it is present."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT, SHARED, SITE
from tests.servers import SiteServer, SMTPInbox, serve_site, smtp_server


@pytest.fixture
def make_server() -> Iterator[Callable[[Path | None], SiteServer]]:
    servers: list[ThreadingHTTPServer] = []

    def start(root: Path | None = SITE) -> SiteServer:
        site = SiteServer(root)
        servers.append(serve_site(site))
        return site

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site(make_server) -> SiteServer:
    """The fixture news site on a fresh loopback port."""
    return make_server(SITE)


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a monitor.yaml into tmp_path (rules copied from the repo unless rules_dir is given)."""

    def write(feeds: list[dict], channels: list[dict] | None = None, rules_dir: Path | None = None,
              **extra: object) -> Path:
        if rules_dir is None:
            rules_dir = tmp_path / "rules"
            if not rules_dir.exists():
                rules_dir.mkdir()
                for rule_file in (ROOT / "rules").glob("*.yaml"):
                    (rules_dir / rule_file.name).write_bytes(rule_file.read_bytes())
        data = {"state_dir": "state", "rules_dir": str(rules_dir), "feeds": feeds,
                "fetch": {"allow_private_networks": True, "deadline": 10, **extra.pop("fetch", {})},
                "channels": channels or [{"type": "file"}],
                # the fixtures replay news of 2025-2026: the stale-news guard would hold every alert back
                "alerts": {"max_age": "off"}, **extra}
        path = tmp_path / "monitor.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return write


@pytest.fixture
def shared() -> Path:
    """../shared beside the checkout; tests that need it skip cleanly where it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present beside the checkout")
    return SHARED


@pytest.fixture
def second_loopback_site() -> Iterator[SiteServer]:
    """A site server on 127.0.0.2 (Linux routes all of 127/8 to loopback): a host the address-policy
    tests allow through fetch.allow_networks while 127.0.0.1 stays refused."""
    site = SiteServer(None)
    server = serve_site(site, "127.0.0.2")
    yield site
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_inbox():
    """A real SMTP server on 127.0.0.1: yields (inbox, port); inbox.messages holds the parsed mails."""
    inbox = SMTPInbox()
    with smtp_server(inbox) as port:
        yield inbox, port
