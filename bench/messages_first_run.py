"""Messages on a first run with a backlog (issue 11): N new feeds (default 300) served on loopback, each carrying a
report of a June 2025 release and one of a September 2025 release (the backlog), a few of today's stories, and one
feed in 60 a report of today's release; one more feed fails with a 300-character URL. `news-monitor run --once` and
`news-monitor digest` run as users run them, to the file outbox and to a Slack webhook receiver on loopback.

Prints what a reader gets: how many alerts (the backlog must raise none: `alerts.max_age`), the digest's header,
the sizes of its HTML (Gmail clips past ~102 KB), text and outbox JSON, and the Slack posts (blocks per post, the
longest section, whether the failing feed is in the first post and how the last post ends).

Run: python bench/messages_first_run.py [--feeds 300] [--stories 3]

Figures (2 shared cores, 2026-12-06, load 6-7, two runs, the same both times): 1,505 items, 563 new articles, 942
copies folded; 1 alert (today's release; none for the 600 backlog reports); the digest of 563 articles: HTML 62,357
bytes, text 24,910, JSON 271,873; Slack 3 posts of 48, 49 and 13 blocks, the longest section 492 characters, the
failing feed in the first post. Main before issue 11's audit (0c46e24), same command: the same alert and posts,
HTML 62,761, text 25,100, JSON 271,884 (the failing feed's error repeated its URL; no link to it in Slack).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CITIES = ["Hrodna", "Brest", "Vitsebsk", "Homel", "Mahilyou", "Pinsk", "Lida", "Barysau", "Slutsk", "Orsha"]
PEOPLE = ["Aliaksandr Hrybko", "Volha Snapkova", "Ihar Palchyk", "Hanna Karpovich"]  # invented
JUNE, SEPT = datetime(2025, 6, 21, 9, 0, tzinfo=UTC), datetime(2025, 9, 11, 12, 0, tzinfo=UTC)


def page(title: str, sentences: list[str]) -> bytes:
    body = "".join(f"<p>{s}</p>" for s in sentences)
    return (f"<!doctype html><html><head><title>{title}</title></head><body><article><h1>{title}</h1>{body}"
            "</article></body></html>").encode()


def today_story(k: int, j: int, city: str, now: datetime) -> tuple[str, list[str], datetime]:
    topic, m = (k + j) % 3, k * 7 + j * 3001
    when = now - timedelta(hours=2 + m % 20)
    if topic == 0:
        return (f"Court in {city} jails activist number {m} for protest posts",
                [f"A court in {city} sentenced activist number {m} to {3 + m % 5} years in a penal colony over "
                 "protest posts, Viasna said.", "The trial was held behind closed doors."], when)
    if topic == 1:
        return (f"EU diplomats weigh sanctions on Belarusian potash, report {m}",
                [f"EU diplomats said on Monday the bloc would discuss new sanctions on Belarusian potash, report {m} "
                 "says.", "No date was set."], when)
    return (f"Zapad drills: troops near {city}, brigade {m}",
            [f"The Zapad exercise of Russia and Belarus moved brigade {m} within {10 + m % 40} km of {city}, "
             "officials said.", "Observers were not invited."], when)


def site(base: str, feeds: int, stories: int, now: datetime) -> dict[str, bytes]:
    """Every feed and page, by path."""
    routes: dict[str, bytes] = {}
    for k in range(feeds):
        city, items = CITIES[k % len(CITIES)], []
        reports = [
            ("june", f"Belarus frees 14 political prisoners, who cross into Lithuania ({city} desk)",
             ["Belarus freed 14 political prisoners on Saturday, and they crossed into Lithuania, Viasna said.",
              f"Among them was {PEOPLE[0]}, a blogger from {city}.", "Rights groups said more could follow."],
             JUNE + timedelta(hours=k % 7)),
            ("sept", f"Belarus releases 52 political prisoners after US envoy John Coale visit ({city} desk)",
             ["Belarus released 52 political prisoners on Thursday after a visit by the US envoy John Coale, and they "
              "were taken to Lithuania.", f"{PEOPLE[1]} and {PEOPLE[2]} were among the 52, Viasna said."],
             SEPT + timedelta(hours=k % 5)),
            *((f"news{j}", *today_story(k, j, city, now)) for j in range(stories)),
        ]
        if k % 60 == 0:
            reports.append(("fresh", f"Belarus frees 7 political prisoners, who reach Poland ({city})",
                            ["Belarus freed 7 political prisoners on Friday, and they reached Poland at the Terespol "
                             "crossing, Viasna said.", f"{PEOPLE[3]} was among them."], now - timedelta(hours=3)))
        for slug, title, sentences, when in reports:
            path = f"/a/{k}/{slug}"
            routes[path] = page(title, sentences)
            items.append(f"<item><title>{title}</title><link>{base}{path}</link><guid>{base}{path}</guid>"
                         f"<pubDate>{format_datetime(when)}</pubDate><description>{sentences[0]}</description></item>")
        routes[f"/f/{k}.xml"] = (f"<?xml version='1.0'?><rss version='2.0'><channel><title>Outlet {k}</title>"
                                 f"<link>{base}/</link>{''.join(items)}</channel></rss>").encode()
    return routes


def serve(routes: dict[str, bytes], posts: list[dict]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = routes.get(self.path.split("?")[0])
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def do_POST(self) -> None:  # noqa: N802 - a Slack webhook
            posts.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--stories", type=int, default=3, help="today's stories per feed")
    args = parser.parse_args()
    posts: list[dict] = []
    routes: dict[str, bytes] = {}
    server = serve(routes, posts)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    routes.update(site(base, args.feeds, args.stories, datetime.now(UTC)))
    with tempfile.TemporaryDirectory(prefix="messages-first-run-") as tmp:
        folder = Path(tmp)
        feeds = [{"url": f"{base}/f/{k}.xml"} for k in range(args.feeds)]
        feeds.append({"url": f"{base}/broken/" + "belarus-regional-" * 17 + "rss.xml"})
        config = {"state_dir": "state", "rules_dir": str(ROOT / "rules"), "feeds": feeds,
                  "fetch": {"allow_private_networks": True, "deadline": 300},
                  "digest": {"timezone": "Europe/Vilnius"}, "channels": [{"type": "file"}, {"type": "slack"}]}
        (folder / "monitor.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        env = {**os.environ, "MONITOR_SLACK_WEBHOOK_URL": f"{base}/services/T0/B0/x",
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

        def cli(*command: str) -> str:
            done = subprocess.run([sys.executable, "-m", "monitor", "--config", str(folder / "monitor.yaml"),
                                   *command], capture_output=True, text=True, env=env, timeout=3600, check=True)
            return done.stdout.strip()

        print("run --once:", cli("run", "--once"))
        outbox = folder / "state" / "outbox"
        alerts = sorted(outbox.glob("*-alert-*.json"))
        print(f"alerts: {len(alerts)}", [json.loads(p.read_text())["subject"][:60] for p in alerts])
        alert_posts = len(posts)
        print("digest:", cli("digest"))
        [digest] = sorted(outbox.glob("*-digest-*.json"))
        data = json.loads(digest.read_text())
        print("header:", data["header"])
        print(f"digest bytes: HTML {digest.with_suffix('.html').stat().st_size:,}, text "
              f"{digest.with_suffix('.txt').stat().st_size:,}, JSON {digest.stat().st_size:,}; counts {data['counts']}")
        slack = posts[alert_posts:]
        sections = [len(b["text"]["text"]) for p in slack for b in p["blocks"] if b["type"] == "section"]
        print(f"slack: {len(slack)} posts of {[len(p['blocks']) for p in slack]} blocks, longest section "
              f"{max(sections)} characters; failing feed in the first post: "
              f"{'feed failing' in json.dumps(slack[0]['blocks'][:3])}; it ends: "
              f"{json.dumps(slack[-1]['blocks'][-1]['elements'][0]['text'], ensure_ascii=False)[:120]}")
    server.shutdown()


if __name__ == "__main__":
    main()
