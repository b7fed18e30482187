"""The signed JSON webhook channel against a real receiver on loopback: the body is the outbox JSON byte for
byte, the receiver verifies the Standard Webhooks signature with its own code (not ours), a retried message
keeps its webhook-id, a receiver down then up gets each message once, a 4xx is dead with the reason, and a
missing or weak secret stops `run` at start-up with the config line."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from click.testing import CliRunner

from monitor.cli import main
from tests.helpers import delivery_rows, make_due
from tests.servers import Receiver, free_port

KEY = b"k" * 32
SECRET = "whsec_" + base64.b64encode(KEY).decode()


def invoke(config, *args, env=None):
    return CliRunner().invoke(main, ["--config", str(config), *args], env=env if env is not None else {
        "MONITOR_WEBHOOK_SECRET": SECRET}, catch_exceptions=False)


def feeds_of(site):
    return [{"url": site.url("/feeds/northwire.xml"), "name": "Northwire"},
            {"url": site.url("/feeds/minsk-monitor.atom"), "name": "Minsk Monitor"}]


def verified(headers: dict[str, str], body: bytes, key: bytes = KEY, tolerance: int = 300) -> bool:
    """A receiver's check, written from the Standard Webhooks spec: HMAC-SHA256 over id.timestamp.body,
    base64, `v1,` prefix; a timestamp within the tolerance of the receiver's clock."""
    webhook_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(stamp)) > tolerance:
        return False
    expected = base64.b64encode(hmac.new(key, f"{webhook_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
    return any(hmac.compare_digest(sig.removeprefix("v1,").encode(), expected)
               for sig in headers["webhook-signature"].split() if sig.startswith("v1,"))


def rows(config, channel="hook"):
    return delivery_rows(config, channel)


def hook(url, **extra):
    return {"type": "webhook", "name": "hook", "url": url, **extra}


def test_every_message_is_the_outbox_json_signed_so_the_receiver_can_verify_it(site, write_config):
    with Receiver() as receiver:
        config = write_config(feeds_of(site), channels=[{"type": "file"}, hook(f"http://{receiver.base}/in")])
        assert invoke(config, "run", "--once").exit_code == 0
        assert invoke(config, "digest").exit_code == 0
        outbox = {json.loads(p.read_text(encoding="utf-8"))["id"]: p.read_bytes()
                  for p in (config.parent / "state" / "outbox").glob("*.json")}
        kinds = {json.loads(body)["kind"] for _, _, body in receiver.requests}
        assert kinds == {"alert", "digest"}  # release alerts and digests both
        assert len(receiver.requests) == len(outbox) == len(rows(config))
        for path, headers, body in receiver.requests:
            assert path == "/in" and headers["content-type"] == "application/json"
            assert verified(headers, body)
            assert not verified(headers, body, key=b"x" * 32)  # the check does reject a wrong key
            assert not verified(headers, body.replace(b'"kind"', b'"kinD"'))  # and a changed body
            assert headers["webhook-id"] == headers["idempotency-key"] == json.loads(body)["id"]
            assert body == outbox[headers["webhook-id"]]  # exactly the file outbox's JSON
        assert all(r["status"] == "sent" and r["ref"] == r["message_id"] for r in rows(config))


def test_a_receiver_down_then_up_gets_each_message_once_with_the_same_id(site, write_config):
    port = free_port()
    config = write_config(feeds_of(site), channels=[hook(f"http://127.0.0.1:{port}/in")])
    assert invoke(config, "run", "--once").exit_code == 0  # nobody listens: connection refused
    down = rows(config)
    assert down and all(r["status"] == "pending" and r["attempts"] >= 0 for r in down)
    assert any("webhook: 127.0.0.1:" in (r["last_error"] or "") for r in down), down
    make_due(config, release_holds=True)  # the retry time has come (the down channel rested until then)
    with Receiver(port=port) as receiver:
        assert invoke(config, "run", "--once").exit_code == 0
        make_due(config)
        assert invoke(config, "run", "--once").exit_code == 0  # nothing left to send: no second copy
        ids = [h["webhook-id"] for _, h, _ in receiver.requests]
        assert sorted(ids) == sorted(r["message_id"] for r in down)  # each once
        assert all(verified(h, b) for _, h, b in receiver.requests)
    assert all(r["status"] == "sent" for r in rows(config))


def test_a_4xx_is_dead_after_its_one_retry_with_the_receivers_reason(site, write_config):
    answer = lambda path, headers, body: (422, b'{"error": "unknown schema"}')  # noqa: E731
    with Receiver(answer=answer) as receiver:
        config = write_config(feeds_of(site), channels=[hook(f"http://{receiver.base}/in")])
        assert invoke(config, "run", "--once").exit_code == 0
        first = rows(config)
        assert first and all(r["status"] == "pending" and r["failure"] == "permanent" for r in first)
        assert all("HTTP 422" in r["last_error"] and "unknown schema" in r["last_error"] for r in first)
        make_due(config)
        assert invoke(config, "run", "--once").exit_code == 0
        assert all(r["status"] == "dead" and "HTTP 422" in r["reason"] for r in rows(config))
        assert len(receiver.requests) == 2 * len(first)
        # a retry carries the same webhook-id, with a fresh timestamp and signature
        by_id: dict[str, list[dict]] = {}
        for _, headers, _ in receiver.requests:
            by_id.setdefault(headers["webhook-id"], []).append(headers)
        assert all(len(h) == 2 for h in by_id.values())
    assert "dead" in invoke(config, "outbox").output


def test_channels_test_sends_a_signed_test_message(write_config):
    with Receiver() as receiver:
        config = write_config([], channels=[hook(f"http://{receiver.base}/in")])
        result = invoke(config, "channels", "test")
        assert result.exit_code == 0 and "hook: ok — accepted the test message" in result.output
        ((_, headers, body),) = receiver.requests
        assert verified(headers, body) and json.loads(body)["subject"] == "news-monitor test message to channel hook"


def test_the_secret_from_a_file_and_a_plain_string_secret(write_config, tmp_path):
    with Receiver() as receiver:
        config = write_config([], channels=[hook(f"http://{receiver.base}/in", secret_env="HOOK_KEY")])
        secret_file = tmp_path / "hook.secret"
        secret_file.write_text("correct horse battery staple, long enough\n", encoding="utf-8")
        result = invoke(config, "channels", "test", env={"HOOK_KEY_FILE": str(secret_file)})
        assert result.exit_code == 0, result.output
        ((_, headers, body),) = receiver.requests
        assert verified(headers, body, key=b"correct horse battery staple, long enough")


def test_start_up_refuses_a_missing_or_weak_secret_and_a_refused_address(write_config):
    config = write_config([], channels=[{"type": "file"}, hook("https://hooks.example.org/in")])
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if "type: webhook" in text)
    result = invoke(config, "run", "--once", env={})
    assert result.exit_code == 2
    assert f"monitor.yaml:{line}: webhook channel 'hook' signs every message and has no secret" in result.output
    assert "MONITOR_WEBHOOK_SECRET" in result.output and "whsec_" in result.output
    result = invoke(config, "run", "--once", env={"MONITOR_WEBHOOK_SECRET": "short"})
    assert result.exit_code == 2 and "the secret is 5 bytes; use at least 16" in result.output
    result = invoke(config, "run", "--once", env={"MONITOR_WEBHOOK_SECRET": "whsec_not*base64"})
    assert result.exit_code == 2 and "is not base64" in result.output

    private = write_config([], channels=[hook("http://127.0.0.1:9/in")], fetch={"allow_private_networks": False})
    result = invoke(private, "run", "--once")
    assert result.exit_code == 2
    assert "webhook channel 'hook': url: 127.0.0.1 is loopback (set fetch.allow_private_networks" in result.output


def test_plain_http_to_another_host_is_warned_about(write_config):
    from monitor.config import load_config, startup_problems

    config = write_config([], channels=[hook("http://hooks.example.org/in")])
    warnings = startup_problems(load_config(config, env={"MONITOR_WEBHOOK_SECRET": SECRET}))
    assert any("webhook channel 'hook': http:// to hooks.example.org" in w for w in warnings)
    config = write_config([], channels=[hook("https://hooks.example.org/in")])
    assert startup_problems(load_config(config, env={"MONITOR_WEBHOOK_SECRET": SECRET})) == []
