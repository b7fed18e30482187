"""Identity keys: normalise_url (tracking, fragments, host, ports, schemes, params) and guid_key."""

from __future__ import annotations

import pytest

from monitor.decide.new import guid_key, item_keys, normalise_url, url_key
from monitor.models import FeedItem


@pytest.mark.parametrize("url, key", [
    # tracking parameters dropped, others kept
    ("https://example.com/a?utm_source=rss&utm_medium=feed&utm_campaign=x", "https://example.com/a"),
    ("https://example.com/a?UTM_Source=rss", "https://example.com/a"),
    ("https://example.com/a?fbclid=IwAR123", "https://example.com/a"),
    ("https://example.com/a?gclid=1&msclkid=2&_ga=3&mc_cid=4&mc_eid=5", "https://example.com/a"),
    ("https://example.com/a?_hsenc=1&_hsmi=2&mtm_source=3&pk_campaign=4", "https://example.com/a"),
    ("https://example.com/a?id=5&ref=x", "https://example.com/a?id=5&ref=x"),
    ("https://example.com/a?id=5&utm_source=x&ref=y", "https://example.com/a?id=5&ref=y"),
    ("https://example.com/story?from=home&page=2", "https://example.com/story?from=home&page=2"),
    # fragment dropped
    ("https://example.com/a#comments", "https://example.com/a"),
    ("https://example.com/a?id=1#top", "https://example.com/a?id=1"),
    # host case and www.
    ("https://EXAMPLE.com/Path/Case", "https://example.com/Path/Case"),
    ("https://www.example.com/a", "https://example.com/a"),
    ("https://WWW.Example.COM/a", "https://example.com/a"),
    ("https://news.example.com/a", "https://news.example.com/a"),
    # default ports
    ("http://example.com:80/a", "https://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("https://example.com:8443/a", "https://example.com:8443/a"),
    ("http://example.com:8080/a", "https://example.com:8080/a"),
    # scheme
    ("http://example.com/a", "https://example.com/a"),
    ("HTTPS://example.com/a", "https://example.com/a"),
    # parameter order
    ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
    # empty path, whitespace
    ("https://example.com", "https://example.com/"),
    ("  https://example.com/a \n", "https://example.com/a"),
])
def test_normalise_url(url, key):
    assert normalise_url(url) == key


@pytest.mark.parametrize("a, b", [
    ("http://www.Example.com/a?utm_source=x#f", "https://example.com/a"),
    ("https://example.com/a?b=2&a=1&fbclid=z", "http://example.com:80/a?a=1&b=2"),
    ("https://example.com/a?q=a%20b", "https://example.com/a?q=a+b"),
])
def test_equivalent_urls_share_a_key(a, b):
    assert normalise_url(a) == normalise_url(b)


@pytest.mark.parametrize("a, b", [
    ("https://example.com/a", "https://example.com/b"),
    ("https://example.com/a?id=5", "https://example.com/a?id=6"),
    ("https://example.com/a?ref=x", "https://example.com/a"),
    ("https://example.com/a", "https://example.com/A"),  # paths are case-sensitive
    ("https://example.com:8080/a", "https://example.com/a"),
    ("https://news.example.com/a", "https://example.com/a"),
])
def test_different_urls_keep_different_keys(a, b):
    assert normalise_url(a) != normalise_url(b)


@pytest.mark.parametrize("url", [
    "http://Example.com/a?utm_source=x&b=2&a=1#frag",
    "https://www.example.com:443/a/?id=5&ref=x",
    "http://example.com",
])
def test_normalise_url_is_idempotent(url):
    once = normalise_url(url)
    assert normalise_url(once) == once


def test_ipv6_hosts_keep_their_brackets():
    assert normalise_url("http://[2001:DB8::1]:8080/x") == "https://[2001:db8::1]:8080/x"
    assert normalise_url("http://[::1]:8080/x") != normalise_url("http://[::1:8080]/x")


# -- GUID keys ----------------------------------------------------------------------------------


def make_item(guid: str | None, url: str | None = "https://example.com/a",
              feed_url: str = "https://feeds.example.com/world.xml") -> FeedItem:
    return FeedItem(feed_url=feed_url, feed_name="World", guid=guid, url=url, title="t", summary="s",
                    published=None)


@pytest.mark.parametrize("guid, key", [
    ("https://www.example.com/a?utm_source=rss#x", "https://example.com/a"),
    ("HTTP://Example.com/a", "https://example.com/a"),
    ("urn:uuid:0b7c7c2e-6a4a-4b0e-9f1c-1b2c3d4e5f60", "urn:uuid:0b7c7c2e-6a4a-4b0e-9f1c-1b2c3d4e5f60"),
    ("tag:minsk-monitor.example,2025:ru-7731", "tag:minsk-monitor.example,2025:ru-7731"),
    ("12345", "https://feeds.example.com/world.xml#12345"),
    ("northwire-2025-10-07-0412", "https://feeds.example.com/world.xml#northwire-2025-10-07-0412"),
    ("  777  ", "https://feeds.example.com/world.xml#777"),
])
def test_guid_key(guid, key):
    assert guid_key(make_item(guid)) == key


@pytest.mark.parametrize("guid", [None, ""])
def test_missing_guid_has_no_key(guid):
    assert guid_key(make_item(guid)) is None


def test_bare_guids_are_per_feed_and_global_guids_are_not():
    world = "https://feeds.example.com/world.xml"
    europe = "https://other.example.org/europe.rss"
    assert guid_key(make_item("12345", feed_url=world)) != guid_key(make_item("12345", feed_url=europe))
    for guid in ("tag:site,2025:1", "https://example.com/a"):
        assert guid_key(make_item(guid, feed_url=world)) == guid_key(make_item(guid, feed_url=europe))


def test_url_key_and_item_keys():
    item = make_item("12345", url="http://www.example.com/a?utm_medium=rss")
    assert url_key(item) == "https://example.com/a"
    assert item_keys(item) == ("https://feeds.example.com/world.xml#12345", "https://example.com/a")
    assert url_key(make_item("x", url=None)) is None
