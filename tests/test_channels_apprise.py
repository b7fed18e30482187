"""The Apprise channel against real receivers on loopback — Apprise's json:// and ntfy:// and a Discord-style
webhook (fluxer://, Discord's API on a host of one's own) — through the real Apprise library: hostile feed
text arrives escaped for the channel's format; the address policy refuses every loopback form on the address
actually connected (a counting receiver sees nothing) and the message is retried, then dead, not lost; a
receiver down then up gets each message once; a 4xx is dead with the reason; bad URLs stop start-up."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from apprise.conversion import markdown_to_html
from click.testing import CliRunner

from monitor.channels.apprise import AppriseSender, check_urls
from monitor.cli import main
from monitor.config import AppriseChannel, FetchConfig, load_config, startup_problems
from monitor.digest import build_message
from monitor.errors import DeliveryError
from monitor.models import Delivery
from tests.helpers import delivery_rows, make_due
from tests.message_builders import LAYOUT, NOW, day, item
from tests.servers import Receiver, free_port

FLUXER_ID, FLUXER_TOKEN = "417429632418316298", "JHZ7lQml277CDHmQKMHI8qBe7bk2ZwO5UKjCiOAF7711o33MyqU344Qpgv7YTpadV_js"
ZWSP = "\u200b"
# what a hostile or careless feed puts in a title, an outlet name and a link
HOSTILE = ("*Sanctions* __widened__ [click](javascript:alert(1)) ![x](https://t.example/p.png) @everyone @here "
           "<!channel> <@123456> <script>alert(1)</script> # not a heading `code` ~~gone~~ \u202eevil")


def invoke(config, *args, env=None):
    return CliRunner().invoke(main, ["--config", str(config), *args], env=env or {}, catch_exceptions=False)


def feeds_of(site):
    return [{"url": site.url("/feeds/northwire.xml"), "name": "Northwire"},
            {"url": site.url("/feeds/minsk-monitor.atom"), "name": "Minsk Monitor"}]


def rows(config, channel="chat"):
    return delivery_rows(config, channel)


def chat(*urls, **extra):
    return {"type": "apprise", "name": "chat", "urls": list(urls), **extra}


def sender(urls, fmt="markdown", allow_private=True, **fetch) -> AppriseSender:
    channel = AppriseChannel(type="apprise", name="chat", format=fmt).model_copy(update={"resolved": list(urls)})
    return AppriseSender(channel, FetchConfig(allow_private_networks=allow_private, **fetch))


def hostile_delivery(kind="alert", extra_stories=0) -> Delivery:
    sentence = f"EU sanctions {HOSTILE}"
    items = [item(1, "sanctions", title=HOSTILE, url="javascript:alert(1)", feed="@here Outlet *bold*",
                  snippet=sentence, reasons=(("sanctions", sentence, ("sanctions",)),)),
             *day(extra_stories)[:extra_stories]]
    m = build_message(kind, items, NOW, layout=LAYOUT)
    return Delivery(message_id=m.id, channel="chat", attempts=0, kind=m.kind, subject=m.subject, text=m.text,
                    html=m.html, data=m.data)


def received(receiver: Receiver) -> list[dict]:
    return [json.loads(body) for _, _, body in receiver.requests]


# -- escaping, per format ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["alert", "digest"])
def test_markdown_mode_escapes_everything_from_feeds(kind):
    with Receiver() as receiver:
        assert sender([f"json://{receiver.base}/hook"]).send(hostile_delivery(kind)) == {
            f"json://{receiver.base}/hook": None}
        ((payload),) = received(receiver)
    body = payload["message"]
    assert payload["title"] == f"news-monitor {kind}"  # no feed text in a title, whose format varies by service
    assert "\\*Sanctions\\* \\_\\_widened\\_\\_ \\[click\\]\\(javascript\\:alert\\(1\\)\\)" in body
    assert f"\\@{ZWSP}everyone \\@{ZWSP}here \\<{ZWSP}\\!channel\\> \\<\\@{ZWSP}123456\\>" in body
    assert "\\<script\\>" in body and "\\# not a heading \\`code\\` \\~\\~gone\\~\\~" in body
    assert "\u202eevil\u202c" in body  # the override closed where the text ends
    # what a markdown reader makes of it (Apprise's own converter, as for Matrix or email): our bold, our one
    # italic line and our links only; no script, no image, no javascript link, no emphasis from the feed
    html = markdown_to_html(body)
    assert "*Sanctions* __widened__ [click](javascript:alert(1)) ![x](https://t.example/p.png)" in html
    assert "<script" not in html and "<img" not in html and "href=\"javascript" not in html
    assert html.count("<em>") == 1 and "<del>" not in html and "<h1>" not in html and "<code>" not in html
    hrefs = [part.split('"', 1)[0] for part in html.split('href="')[1:]]
    assert all(h.startswith("https://") for h in hrefs)


def test_text_mode_is_plain_text_with_controls_closed_and_mentions_broken():
    with Receiver() as receiver:
        assert list(sender([f"ntfy://{receiver.base}/monitor"], fmt="text").send(hostile_delivery()).values()) == [None]
        ((payload),) = received(receiver)
    assert payload["topic"] == "monitor"
    body = payload["message"]
    assert "*Sanctions* __widened__ [click](javascript:alert(1))" in body  # as written: text is shown as is
    assert f"@{ZWSP}everyone @{ZWSP}here <{ZWSP}!channel> <@{ZWSP}123456>" in body
    assert "\u202eevil\u202c" in body and not any(ord(c) < 32 and c != "\n" for c in body)
    assert "(not a web link) javascript:alert(1)" in body


def test_a_discord_style_webhook_gets_a_message_within_its_2000_characters():
    with Receiver() as receiver:
        target = f"fluxer://{receiver.base}/{FLUXER_ID}/{FLUXER_TOKEN}"
        assert list(sender([target]).send(hostile_delivery("digest", extra_stories=60)).values()) == [None]
        assert list(sender([target]).send(hostile_delivery("alert")).values()) == [None]
        (path, _, digest), (_, _, alert) = receiver.requests
    assert path == f"/api/webhooks/{FLUXER_ID}/{FLUXER_TOKEN}"
    content = json.loads(digest)["content"]
    assert len(content) <= 2000  # Discord refuses longer content: the rest is counted, with where it is
    assert "more stories — the whole message is in the email, the outbox and `news-monitor hits`" in content
    content = json.loads(alert)["content"]
    assert f"\\@{ZWSP}here Outlet \\*bold\\*" in content and "\\*Sanctions\\* \\_\\_widened" in content
    assert "@everyone" not in content and "<!channel>" not in content and "allowed_mentions" not in json.loads(alert)


# -- the address policy, on the address actually connected ----------------------------------------------------

# the loopback forms Apprise accepts in a URL; each reaches 127.0.0.1 when allowed (the control below)
LOOPBACK_FORMS = ["127.0.0.1", "localhost", "LOCALHOST", "localhost.", "2130706433", "0x7f000001", "017700000001",
                  "127.000.000.001", "127.0.0.1.", "[::ffff:7f00:1]"]
# forms Apprise itself cannot read: refused at start-up, so no send is ever tried
UNREADABLE_FORMS = ["127.1", "①②⑦.0.0.1", "１２７．０．０．１", "0177.0.0.1", "[::ffff:127.0.0.1]"]


def test_the_address_policy_refuses_every_loopback_form_and_the_counting_receiver_sees_nothing():
    with Receiver() as receiver:
        urls = [f"json://{host}:{receiver.port}/in" for host in LOOPBACK_FORMS]
        urls += [f"ntfy://127.0.0.1:{receiver.port}/topic", f"fluxer://localhost:{receiver.port}/{FLUXER_ID}/{FLUXER_TOKEN}"]
        answers = sender(urls, allow_private=False).send(hostile_delivery())
        assert len(receiver.requests) == 0
        assert len(answers) == len(urls)
        for error in answers.values():
            assert isinstance(error, DeliveryError) and error.permanent
            assert "refused by the address policy: " in str(error)
            assert ("127.0.0.1 is loopback (set fetch.allow_private_networks" in str(error)
                    or "::ffff:7f00:1 embeds 127.0.0.1, which is loopback (set fetch" in str(error))
        # the control: the same URLs, allowed, all reach the same receiver — so the count above means something
        assert set(sender(urls, allow_private=True).send(hostile_delivery()).values()) == {None}
        assert len(receiver.requests) == len(urls)
        for host in UNREADABLE_FORMS:
            assert "is not a URL Apprise can read" in check_urls([f"json://{host}:{receiver.port}/in"])


def test_a_refused_apprise_url_is_retried_then_dead_with_the_reason_not_lost(site, write_config, second_loopback_site):
    # feeds on 127.0.0.1 are allowed by allow_networks; the chat receiver on 127.0.0.2 is not
    receiver = second_loopback_site
    receiver.route("/in", (200, {}, b"{}"))
    config = write_config(feeds_of(site), channels=[{"type": "file"}, chat(f"json://{receiver.base[7:]}/in")],
                          fetch={"allow_private_networks": False, "allow_networks": ["127.0.0.1/32"]})
    assert invoke(config, "run", "--once").exit_code == 0
    first = rows(config)
    assert first and all(r["status"] == "pending" for r in first)
    assert all("127.0.0.2 is loopback (set fetch.allow_private_networks" in r["last_error"] for r in first)
    make_due(config)
    assert invoke(config, "run", "--once").exit_code == 0
    dead = rows(config)
    assert all(r["status"] == "dead" and "refused by the address policy: 127.0.0.2 is loopback" in r["reason"]
               for r in dead)
    assert receiver.requests == []
    assert "refused by the address policy" in invoke(config, "outbox").output
    # allowed later, `outbox retry --all-dead` delivers what was kept
    config.write_text(config.read_text().replace("- 127.0.0.1/32", "- 127.0.0.0/8"))
    assert invoke(config, "outbox", "retry", "--all-dead").exit_code == 0
    assert invoke(config, "run", "--once").exit_code == 0
    assert len(receiver.requests) == len(dead) and all(r["status"] == "sent" for r in rows(config))


# -- retries: down then up, 4xx, one service of two -----------------------------------------------------------

def test_a_receiver_down_then_up_gets_each_message_once(site, write_config):
    port = free_port()
    config = write_config(feeds_of(site), channels=[chat(f"json://127.0.0.1:{port}/in")])
    assert invoke(config, "run", "--once").exit_code == 0
    down = rows(config)
    assert down and all(r["status"] == "pending" for r in down)
    assert any(f"apprise: json://127.0.0.1:{port}/in: A Connection error" in (r["last_error"] or "")
               for r in down), down
    make_due(config, release_holds=True)  # the retry time has come (the down channel rested until then)
    with Receiver(port=port) as receiver:
        assert invoke(config, "run", "--once").exit_code == 0
        make_due(config)
        assert invoke(config, "run", "--once").exit_code == 0
        assert len(receiver.requests) == len(down)
        assert {p["title"] for p in received(receiver)} == {"news-monitor alert"}  # release alerts
        assert invoke(config, "digest").exit_code == 0  # and the digest
        assert [p["title"] for p in received(receiver)].count("news-monitor digest") == 1
    assert all(r["status"] == "sent" for r in rows(config))


def test_a_redirect_is_not_followed_to_an_address_the_policy_refuses(second_loopback_site):
    """127.0.0.1 allowed, 127.0.0.2 not: the receiver on 127.0.0.1 redirects to 127.0.0.2, which sees nothing."""
    refused = second_loopback_site
    refused.route("/in", (200, {}, b"{}"))
    moved = lambda path, headers, body: (307, b"", {"Location": refused.url("/in")})  # noqa: E731
    with Receiver(answer=moved) as receiver:
        channel = sender([f"json://{receiver.base}/in"], allow_private=False, allow_networks=["127.0.0.1/32"])
        (answer,) = channel.send(hostile_delivery()).values()
        assert len(receiver.requests) == 1 and refused.requests == []
        assert answer is not None and answer.permanent and "error=307" in answer.message


def test_a_4xx_is_dead_with_the_reason_and_the_service_that_took_it_is_not_sent_it_again(site, write_config):
    refuse = lambda path, headers, body: (400, b'{"error": "bad"}') if path == "/refuses" else (200, b"{}")  # noqa: E731
    with Receiver(answer=refuse) as receiver:
        good, bad = f"json://{receiver.base}/takes", f"json://{receiver.base}/refuses"
        config = write_config(feeds_of(site), channels=[chat(good, bad)])
        assert invoke(config, "run", "--once").exit_code == 0
        first = rows(config)
        for r in first:
            recipients = json.loads(r["recipients"])
            assert recipients[good]["status"] == "sent" and recipients[bad]["failure"] == "permanent"
            assert r["status"] == "pending" and "error=400" in r["last_error"]
        make_due(config)
        assert invoke(config, "run", "--once").exit_code == 0
        for r in rows(config):
            assert r["status"] == "dead" and f"{bad}: " in r["reason"] and "error=400" in r["reason"]
            assert f"delivered to {good}" in r["reason"]
        paths = [p for p, _, _ in receiver.requests]
        assert paths.count("/takes") == len(first) and paths.count("/refuses") == 2 * len(first)


def test_channels_test_reaches_an_apprise_service_and_reports_a_refusal(write_config):
    with Receiver(answer=lambda path, h, b: (404, b"{}") if path == "/gone" else (200, b"{}")) as receiver:
        config = write_config([], channels=[chat(f"json://{receiver.base}/in")])
        result = invoke(config, "channels", "test")
        assert result.exit_code == 0 and "chat: ok — accepted the test message" in result.output
        assert received(receiver)[0]["title"] == "news-monitor test"
        assert "Test message to channel chat" in received(receiver)[0]["message"]
        config = write_config([], channels=[chat(f"json://{receiver.base}/gone")])
        result = invoke(config, "channels", "test")
        assert result.exit_code == 1 and "chat: FAILED — json://" in result.output and "error=404" in result.output


# -- start-up -------------------------------------------------------------------------------------------------

def test_start_up_refuses_bad_or_missing_apprise_urls_with_the_config_line(write_config, tmp_path):
    config = write_config([], channels=[{"type": "file"}, chat("json://127.0.0.1:8080/in", "mmost://127.1/tok")])
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if "type: apprise" in text)
    result = invoke(config, "run", "--once")
    assert result.exit_code == 2
    assert f"monitor.yaml:{line}: apprise channel 'chat': URL 2 (mmost://…) is not a URL Apprise can read" in (
        result.output)
    config = write_config([], channels=[chat()])
    result = invoke(config, "run", "--once")
    assert result.exit_code == 2 and "apprise channel 'chat' has no URL" in result.output
    assert "MONITOR_APPRISE_URLS" in result.output
    # URLs that carry tokens come from the environment or a secrets file, several at once
    with Receiver() as receiver:
        urls = tmp_path / "apprise.urls"
        urls.write_text(f"json://{receiver.base}/a\njson://{receiver.base}/b\n", encoding="utf-8")
        result = invoke(config, "channels", "test", env={"MONITOR_APPRISE_URLS_FILE": str(urls)})
        assert result.exit_code == 0, result.output
        assert sorted(p for p, _, _ in receiver.requests) == ["/a", "/b"]


def test_plain_text_to_a_service_that_reads_markdown_is_warned_about(write_config):
    discord_like = f"fluxer://127.0.0.1:8080/{FLUXER_ID}/{FLUXER_TOKEN}"
    config = write_config([], channels=[chat(discord_like, "json://127.0.0.1:8080/in", format="text")])
    warnings = startup_problems(load_config(config, env={}))
    assert len(warnings) == 1 and "apprise channel 'chat': format: text to fluxer://127.0.0.1:8080/" in warnings[0]
    assert FLUXER_TOKEN not in warnings[0]  # the label masks the token
    config = write_config([], channels=[chat(discord_like)])
    assert startup_problems(load_config(config, env={})) == []


def test_each_service_that_took_the_message_is_committed_before_the_next_is_tried():
    committed: list[dict] = []
    seen_at_second: list[list[dict]] = []

    def answer(path, headers, body):
        if path == "/second":
            seen_at_second.append(list(committed))
        return 200, b"{}"

    with Receiver(answer=answer) as receiver:
        first, second = f"json://{receiver.base}/first", f"json://{receiver.base}/second"
        delivery = replace(hostile_delivery(), progress=committed.append)
        assert sender([first, second]).send(delivery) == {first: None, second: None}
    assert [list(c) for c in seen_at_second[0]] == [[first]]  # a crash now would not send `first` it again
    assert seen_at_second[0][0][first]["status"] == "sent" and len(committed) == 1  # the last is the send's own


@pytest.mark.parametrize("host", ["2130706433", "localhost", "①②⑦.0.0.1", "127.1"])
def test_channels_test_to_a_disguised_loopback_url_reaches_nothing(write_config, host):
    """As a user meets it: `channels test` with private networks refused. Forms Apprise reads are refused
    on the connected address (FAILED, with why); forms it cannot read stop at the config (exit 2)."""
    with Receiver() as receiver:
        config = write_config([], channels=[chat(f"json://{host}:{receiver.port}/in")],
                              fetch={"allow_private_networks": False})
        result = invoke(config, "channels", "test")
        assert receiver.requests == []
        if host in ("①②⑦.0.0.1", "127.1"):
            assert result.exit_code == 2 and "is not a URL Apprise can read" in result.output
        else:
            assert result.exit_code == 1
            assert "FAILED" in result.output and "refused by the address policy: 127.0.0.1 is loopback" in result.output
