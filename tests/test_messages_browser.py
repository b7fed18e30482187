"""The HTML digest and alert in a real browser (headless Chromium, Debian's `chromium`): nothing wider than a
320 px or 375 px phone, a 300-character URL in the health section included. Skips only when no Chromium is
installed (`.ci/run` installs it)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import pytest

from monitor.digest import build_message
from tests.message_builders import LAYOUT, NOW, day, failing_feeds, item, release

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (.ci/run installs Debian's)")
WIDTHS = (320, 375)
# a closed network: no component updates, sync or first-run traffic (they would be refused, slowly)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
PROBE = """<script>window.addEventListener("load", () => {
  const out = {};
  for (const f of document.querySelectorAll("iframe")) {
    const d = f.contentDocument.documentElement;
    out[f.id] = {scroll: d.scrollWidth, client: d.clientWidth};
  }
  document.body.setAttribute("data-probe", JSON.stringify(out));
});</script>"""


def widths_in_browser(page: str, tmp_path) -> dict[str, dict[str, int]]:
    """Load `page` in iframes of each phone width (srcdoc: same origin, so the probe can measure it) and return
    each frame's scroll and client width, as Chromium laid them out."""
    frames = "".join(f'<iframe id="w{w}" width="{w}" height="700" style="border:0;display:block" '
                     f'srcdoc="{html.escape(page, quote=True)}"></iframe>' for w in WIDTHS)
    probe = tmp_path / "probe.html"
    probe.write_text(f"<!doctype html><html><body>{frames}{PROBE}</body></html>", encoding="utf-8")
    result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=800,900",
                             "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'data-probe="([^"]*)"', result.stdout)
    assert found, result.stderr[-2000:]
    return json.loads(html.unescape(found.group(1)))


def assert_fits(page: str, tmp_path) -> None:
    for frame, width in widths_in_browser(page, tmp_path).items():
        assert width["scroll"] <= width["client"], f"{frame}: content {width['scroll']} px wide in {width['client']}"


def test_the_probe_sees_overflow(tmp_path):
    """The measurement itself: a long unbroken token without wrapping rules does overflow."""
    widths = widths_in_browser(f"<!doctype html><p>https://feeds.example/{'a' * 300}</p>", tmp_path)
    assert all(w["scroll"] > w["client"] for w in widths.values())


def test_digest_with_a_300_character_url_in_health_fits_a_phone(tmp_path):
    unbroken = "https://minsk-monitor.example/" + "x" * 280  # a headline that is one long token
    items = [*day(60), item(300, "zapad", title=unbroken, feed="Z" * 120, snippet=unbroken,
                            reasons=(("zapad", unbroken, ("Zapad",)),))]
    message = build_message("digest", items, NOW, health=failing_feeds(long_url=True), layout=LAYOUT,
                            ledger="4 releases reported since Jun 2025, 205 people", rule_errors=[unbroken])
    assert len(failing_feeds(long_url=True)[0]["url"]) >= 300 and failing_feeds(True)[0]["url"] in message.html
    assert_fits(message.html, tmp_path)


def test_alert_fits_a_phone(tmp_path):
    long_title = "Belarus frees 52 political prisoners " + "x" * 120
    message = build_message("alert", [release(1, 52, title=long_title)], NOW, layout=LAYOUT)
    assert_fits(message.html, tmp_path)
