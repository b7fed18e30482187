"""The error tree: every error we raise is a MonitorError whose stage, reason and place are fields, and
whose text reads as it always did ("fetch: URL: reason", "slack: host: reason")."""

from __future__ import annotations

import pytest

from monitor.errors import (
    AlreadyRunning,
    ConfigError,
    DeliveryError,
    ExtractError,
    FeedError,
    FetchError,
    HTTPStatusError,
    MonitorError,
    RuleError,
    RuleSyntaxError,
)
from monitor.lock import instance_lock
from monitor.rules.query import parse


@pytest.mark.parametrize("cls", [ConfigError, RuleError, RuleSyntaxError, AlreadyRunning, FetchError, FeedError,
                                 ExtractError, DeliveryError])
def test_every_error_is_a_monitor_error(cls):
    assert issubclass(cls, MonitorError)


def test_errors_carry_stage_reason_and_place_as_fields():
    fetch = HTTPStatusError("HTTP 503", url="https://example.org/feed", status=503)
    assert (fetch.stage, fetch.message, fetch.status) == ("fetch", "HTTP 503", 503)
    assert fetch.url == "https://example.org/feed"
    assert str(fetch) == "fetch: https://example.org/feed: HTTP 503"
    feed = FeedError("not a feed", url="https://example.org/feed")
    assert (feed.stage, feed.url, str(feed)) == ("feeds", "https://example.org/feed",
                                                 "feeds: https://example.org/feed: not a feed")
    delivery = DeliveryError("HTTP 500: 'no_service'", channel="slack", target="hooks.example.org")
    assert (delivery.stage, delivery.channel, delivery.target) == ("channel", "slack", "hooks.example.org")
    assert str(delivery) == "slack: hooks.example.org: HTTP 500: 'no_service'"
    assert str(ExtractError("no worker")) == "extract: no worker"


def test_a_fetch_error_raised_without_its_url_is_located_once():
    error = FetchError("connection reset")
    assert error.at("https://example.org/a") is error
    assert str(error) == "fetch: https://example.org/a: connection reset"
    assert str(error.at("https://example.org/b")) == "fetch: https://example.org/a: connection reset"


def test_a_query_that_does_not_parse_raises_a_rule_syntax_error_with_its_place():
    with pytest.raises(RuleSyntaxError) as caught:
        parse("belarus AND (")
    assert isinstance(caught.value, RuleError) and caught.value.line == 1 and caught.value.column is not None


def test_a_second_instance_raises_already_running(tmp_path):
    with instance_lock(tmp_path), pytest.raises(AlreadyRunning) as caught, instance_lock(tmp_path):
        pass
    assert caught.value.stage == "service" and str(tmp_path) in str(caught.value)
