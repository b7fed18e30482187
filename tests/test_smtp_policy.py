"""The SMTP host is under the address policy like every fetch (left over from issue 9): with
`fetch.allow_private_networks: false`, a loopback or private mail server is refused — at start-up with the
config line, and at send on the address actually connected (a name resolving there, `localhost`, Unicode
digits) — unless the channel's `allow_networks` or fetch's admits it. Real servers on loopback: a counting TCP
server that must see no connection, aiosmtpd for the mail that is allowed, and STARTTLS/SSL with a test CA,
where the certificate is still checked against the configured name."""

from __future__ import annotations

import ipaddress
import socket
import ssl

import pytest
import trustme
from aiosmtpd.controller import Controller

from monitor.channels.email import EmailSender, smtp_host_problem
from monitor.config import EmailChannel, FetchConfig
from monitor.errors import DeliveryError
from monitor.models import Delivery
from tests.helpers import cli
from tests.servers import HungServer, ScriptedInbox, free_port, smtp_server

STRICT = FetchConfig()  # the default: private and loopback addresses refused


def channel(port: int, host: str = "127.0.0.1", **extra) -> EmailChannel:
    return EmailChannel(type="email", host=host, port=port, tls=extra.pop("tls", "none"), to=["desk@ngo.example"],
                        timeout=5, **{"from": "monitor@ngo.example"}, **extra)


def delivery() -> Delivery:
    return Delivery(message_id="m1", channel="email", attempts=0, kind="alert", subject="Alert: a test",
                    text="text body", html="<p>html body</p>", data={})


def resolves_to_loopback(name: str) -> bool:
    try:
        return all(ipaddress.ip_address(i[4][0]).is_loopback for i in socket.getaddrinfo(name, 25))
    except OSError:
        return False


HOSTS = ["127.0.0.1", "localhost", "①②⑦.0.0.1", "127.1", "2130706433", "::ffff:127.0.0.1", "::1"]


@pytest.mark.parametrize("host", HOSTS)
def test_a_loopback_smtp_host_is_refused_at_send_and_gets_no_connection(host):
    server = HungServer()
    try:
        with pytest.raises(DeliveryError) as caught:
            EmailSender(channel(server.port, host), STRICT).send(delivery())
        assert len(server.connections) == 0
    finally:
        server.close()
    error = caught.value
    assert error.permanent and error.channel_down
    assert "is loopback" in str(error) and "allow_networks" in str(error), str(error)


@pytest.mark.parametrize("host", [*HOSTS, "LOCALHOST.", "[::1]", "localhost.localdomain", "mail.localhost"])
def test_start_up_judges_the_same_hosts_without_connecting(host):
    problem = smtp_host_problem(channel(2525, host), STRICT)
    assert problem is not None and "is loopback" in problem and "allow_networks: [" in problem


def test_a_name_whose_dns_points_at_loopback_is_judged_by_the_address_it_resolves_to():
    name = socket.gethostname()  # /etc/hosts maps this machine's name to a loopback address
    if not resolves_to_loopback(name):
        pytest.skip(f"{name} does not resolve to loopback here")
    server = HungServer()
    try:
        with pytest.raises(DeliveryError, match="is loopback"):
            EmailSender(channel(server.port, name), STRICT).send(delivery())
        assert len(server.connections) == 0
        assert "is loopback" in smtp_host_problem(channel(server.port, name), STRICT)
    finally:
        server.close()


@pytest.mark.parametrize("allow", [{"channel": ["127.0.0.1/32"]}, {"fetch": ["127.0.0.0/8"]}, {"private": True}])
def test_the_config_that_allows_the_relay_delivers_to_it(allow):
    inbox = ScriptedInbox()
    fetch = FetchConfig(allow_private_networks=allow.get("private", False), allow_networks=allow.get("fetch", []))
    with smtp_server(inbox) as port:
        answers = EmailSender(channel(port, allow_networks=allow.get("channel", [])), fetch).send(delivery())
    assert answers == {"desk@ngo.example": None}
    assert [m["Subject"] for _, m in inbox.mails] == ["Alert: a test"]
    assert smtp_host_problem(channel(port, allow_networks=allow.get("channel", [])), fetch) is None


def test_run_refuses_to_start_with_a_loopback_smtp_host_and_names_the_line(write_config):
    server = HungServer()
    email = {"type": "email", "host": "localhost", "port": server.port, "tls": "none", "from": "m@ngo.example",
             "to": ["desk@ngo.example"]}
    try:
        config = write_config([], channels=[{"type": "file"}, email], fetch={"allow_private_networks": False})
        result = cli(config, "run", "--once")
        assert result.returncode == 2, result.stderr
        line = next(i for i, text in enumerate(config.read_text().splitlines(), 1) if "type: email" in text)
        assert result.stderr.strip() == (
            f"news-monitor: {config}:{line}: email channel 'email': SMTP host localhost means 127.0.0.1, which is "
            "loopback (allow this relay alone with the channel's allow_networks: [127.0.0.1/32], or set "
            "fetch.allow_private_networks)")
        assert not (config.parent / "state" / "monitor.db").exists()  # refused before anything was stored

        # the same relay admitted for this channel alone: the run goes ahead
        config = write_config([], channels=[{"type": "file"}, {**email, "allow_networks": ["127.0.0.1/32"]}],
                              fetch={"allow_private_networks": False})
        result = cli(config, "run", "--once")
        assert result.returncode == 0 and "loopback" not in result.stderr, result.stderr
        assert len(server.connections) == 0  # nothing was due: start-up judged the host without connecting
    finally:
        server.close()


# -- TLS: connected to the checked address, the certificate still checked against the configured name --------

@pytest.fixture
def test_ca(tmp_path, monkeypatch):
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # ssl.create_default_context() trusts it
    return ca


def tls_server(ca: trustme.CA, name: str, tls: str, inbox: ScriptedInbox) -> Controller:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    extra = {"ssl_context": context} if tls == "ssl" else {"tls_context": context, "require_starttls": True}
    return Controller(inbox, hostname="127.0.0.1", port=free_port(), **extra)


@pytest.mark.parametrize("tls", ["starttls", "ssl"])
@pytest.mark.parametrize(("certificate_for", "delivered"), [("localhost", True), ("mail.other.example", False)])
def test_tls_verifies_the_configured_name_on_the_checked_address(test_ca, tls, certificate_for, delivered):
    inbox = ScriptedInbox()
    controller = tls_server(test_ca, certificate_for, tls, inbox)
    controller.start()
    try:
        relay = channel(controller.port, "localhost", tls=tls, allow_networks=["127.0.0.1/32"])
        if delivered:
            assert EmailSender(relay, STRICT).send(delivery()) == {"desk@ngo.example": None}
        else:
            with pytest.raises(DeliveryError, match="certificate"):
                EmailSender(relay, STRICT).send(delivery())
        assert len(inbox.mails) == (1 if delivered else 0)
    finally:
        controller.stop()
