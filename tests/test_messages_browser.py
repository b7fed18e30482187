"""The HTML digest and alert in a real browser (headless Chromium, Debian's `chromium`): nothing wider than a
320 px or 375 px phone, a 300-character URL in the health section included. Skips only when no Chromium is
installed (`.ci/run` installs it)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from dataclasses import replace

import pytest

from monitor.digest import build_message
from tests.message_builders import LAYOUT, NOW, SUPPRESSED, day, failing_feeds, item, release

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (.ci/run installs Debian's)")
WIDTHS = (320, 375)
# a closed network: no component updates, sync or first-run traffic (they would be refused, slowly)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
# per frame: its widths; and each visible run of text as the reader meets it, with its computed font size and the
# contrast of its colour against the first opaque background behind it (WCAG's relative luminance)
PROBE = """<script>
function rgb(c) { const m = c.match(/[0-9.]+/g).map(Number); return {v: m.slice(0, 3), a: m.length > 3 ? m[3] : 1}; }
function lum(v) {
  const l = v.map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
  return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2]; }
function background(el, win) {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(win.getComputedStyle(e).backgroundColor);
    if (c.a > 0.5) return c.v;
  }
  return [255, 255, 255];
}
window.addEventListener("load", () => {
  const out = {};
  for (const f of document.querySelectorAll("iframe")) {
    const win = f.contentWindow, d = f.contentDocument.documentElement, texts = [];
    for (const el of f.contentDocument.body.querySelectorAll("*")) {
      const own = Array.from(el.childNodes).filter(n => n.nodeType === 3 && n.textContent.trim())
        .map(n => n.textContent.trim()).join(" ");
      if (!own || !el.getClientRects().length || win.getComputedStyle(el).visibility === "hidden") continue;
      const fg = lum(rgb(win.getComputedStyle(el).color).v), bg = lum(background(el, win));
      texts.push({text: own.slice(0, 60), tag: el.tagName, size: parseFloat(win.getComputedStyle(el).fontSize),
                  contrast: (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05)});
    }
    out[f.id] = {scroll: d.scrollWidth, client: d.clientWidth, texts: texts};
  }
  document.body.setAttribute("data-probe", JSON.stringify(out));
});</script>"""


def widths_in_browser(page: str, tmp_path, dark: bool = False) -> dict[str, dict]:
    """Load `page` in iframes of each phone width (srcdoc: same origin, so the probe can measure it) and return
    each frame's scroll and client width, as Chromium laid them out, and its texts (PROBE); `dark`: the reader's
    system asks for dark mode (prefers-color-scheme: dark)."""
    frames = "".join(f'<iframe id="w{w}" width="{w}" height="700" style="border:0;display:block" '
                     f'srcdoc="{html.escape(page, quote=True)}"></iframe>' for w in WIDTHS)
    probe = tmp_path / "probe.html"
    probe.write_text(f"<!doctype html><html><body>{frames}{PROBE}</body></html>", encoding="utf-8")
    result = subprocess.run([CHROMIUM, *FLAGS, *(["--force-dark-mode"] if dark else []),
                             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=800,900",
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


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_every_text_is_14_px_or_more_at_4_5_to_1_in_light_and_dark(tmp_path, dark):
    """What Chromium computes for each visible text of a digest with every part (health, releases, topics, sources,
    follow-ups, the fold line) and an alert: no text under 14 px (a <code> in monospace shrinks to 13/16 of its
    parent's size unless sized itself), every text at WCAG AA contrast against what is behind it."""
    digest = build_message("digest", day(40), NOW, health=failing_feeds(long_url=True),
                           layout=replace(LAYOUT, stories_per_topic=3),  # "+N more — <code>command</code>"
                           suppressed=SUPPRESSED, rule_errors=["rules/zapad.yaml:4:3: unexpected end of query"],
                           ledger="4 releases reported since Jun 2025, 205 people")
    alert = build_message("alert", [release(1, 52)], NOW, layout=LAYOUT)
    for message in (digest, alert):
        frames = widths_in_browser(message.html, tmp_path, dark=dark)
        texts = frames["w375"]["texts"]
        assert len(texts) > (100 if message is digest else 5)
        small = [t for t in texts if t["size"] < 14]
        faint = [t for t in texts if t["contrast"] < 4.5]
        assert not small, small[:5]
        assert not faint, faint[:5]
