"""Progress on a terminal: `run --once` under a pseudo-terminal draws one line per stage with counts on
stderr; with stderr a plain pipe, not one progress line appears (the logs are what they were)."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
import time

from monitor.cli.progress import StageProgress
from tests.helpers import cli, rss, wait_for

STAGES = ("feeds fetched", "feeds polled", "pages fetched", "articles extracted", "articles checked")


def _run_on_terminal(config, *args: str) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (stdout a pipe); returns (exit code, stdout, terminal)."""
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    seen = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end of the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    out = proc.stdout.read().decode()
    proc.stdout.close()
    return proc.wait(timeout=120), out, seen.decode(errors="replace")


def test_run_once_shows_progress_per_stage_on_a_terminal(site, write_config):
    config = write_config([{"url": site.url("/feeds/northwire.xml")}], extract={"workers": 0})
    code, out, terminal = _run_on_terminal(config, "run", "--once")
    assert code == 0, terminal
    assert "new articles" in out
    # every stage's last drawing stays on screen with its final counts ("articles checked: 5 of 5")
    finals = {}
    for line in terminal.replace("\r\n", "\n").split("\n"):
        last = line.rsplit("\r", 1)[-1].replace("\x1b[K", "")
        for stage in STAGES:
            if last.startswith(f"{stage}: "):
                finals[stage] = last[len(stage) + 2:]
    assert set(finals) == set(STAGES), terminal
    assert finals["feeds fetched"] == finals["feeds polled"] == "1 of 1"
    done, _, total = finals["articles checked"].partition(" of ")
    assert done == total and int(total) > 0
    assert finals["articles extracted"] == finals["articles checked"]

    code, out, terminal = _run_on_terminal(config, "rules", "backtest", "all")
    assert code == 0, terminal
    assert f"articles checked: {total} of {total}" in terminal.replace("\x1b[K", "")


def test_no_progress_without_a_terminal(site, write_config):
    config = write_config([{"url": site.url("/feeds/northwire.xml")}], extract={"workers": 0})
    result = cli(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "new articles" in result.stdout
    assert "\r" not in result.stderr and "\x1b[" not in result.stderr
    assert not [line for line in result.stderr.splitlines() if line.startswith(STAGES)]
    plain = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "rules", "backtest", "all"],
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0, plain.stderr
    assert "articles checked" not in plain.stderr and "\r" not in plain.stderr


def _slow(seconds: float, answer: tuple[int, dict[str, str], bytes]):
    def handler(_request):
        time.sleep(seconds)
        return answer
    return handler


def test_fetch_progress_moves_per_feed_and_per_page_as_they_complete(make_server, write_config):
    """Three feeds and three pages answering 0.3 s, 0.9 s and 1.5 s after asked: the counts step 1, 2, 3 while
    the fetches are under way (more than the 0.1 s between redraws apart), not all at once when they end."""
    site = make_server(None)
    delays = (0.3, 0.9, 1.5)
    items = [(f"g{i}", f"/page{i}.html", f"Report {i}", "Mon, 02 Mar 2026 09:00:00 GMT") for i in range(3)]
    for i, delay in enumerate(delays):
        site.route(f"/feed{i}.xml", _slow(delay, (200, {"Content-Type": "application/rss+xml"},
                                                 rss(site.base, items if i == 0 else []))))
        site.route(f"/page{i}.html", _slow(delay, (200, {"Content-Type": "text/html; charset=utf-8"},
                                                   f"<html><body><article><h1>Report {i}</h1><p>{'Words. ' * 80}"
                                                   "</p></article></body></html>".encode())))
    config = write_config([{"url": site.url(f"/feed{i}.xml")} for i in range(3)], extract={"workers": 0})
    code, _, terminal = _run_on_terminal(config, "run", "--once")
    assert code == 0, terminal
    drawn = terminal.replace("\x1b[K", "").replace("\r\n", "\r").split("\r")
    for stage in ("feeds fetched", "pages fetched"):
        steps = [line for line in drawn if line.startswith(f"{stage}: ")]
        assert {f"{stage}: {n} of 3" for n in (1, 2, 3)} <= set(steps), terminal


STEPS = {  # command -> the steps it draws on a terminal, each left on screen with its time ("… 0.3 s")
    ("digest", "--dry-run"): ["building the digest"],
    ("prune", "--dry-run"): ["counting the text of old articles without hits", "counting old articles without hits",
                             "counting delivered messages"],
    ("prune",): ["dropping the text of old articles without hits", "dropping old articles without hits",
                 "dropping delivered messages", "giving the freed space back to the file system"],
    ("digest",): ["building the digest", "delivering"],
}


def test_digest_prune_and_feeds_test_draw_their_steps_on_a_terminal_only(site, write_config):
    config = write_config([{"url": site.url("/feeds/northwire.xml")}], extract={"workers": 0},
                          retention={"article_text": "30d", "non_hit_articles": "180d", "delivered_messages": "90d"})
    assert cli(config, "run", "--once").returncode == 0  # a store to digest and prune
    feed = site.url("/feeds/northwire.xml")
    commands = [*STEPS.items(), (("feeds", "test", feed), ["fetching the feed", "parsing it"])]
    for command, steps in commands:
        code, out, terminal = _run_on_terminal(config, *command)
        assert code == 0, terminal
        lines = [line.rsplit("\r", 1)[-1].replace("\x1b[K", "") for line in terminal.replace("\r\n", "\n").split("\n")]
        drawn = [line for line in lines if re.fullmatch(r".+ … \d+\.\d s", line)]
        assert [line.split(" … ")[0] for line in drawn] == steps, terminal
        plain = cli(config, *command)  # stderr a pipe: not one progress line
        assert plain.returncode == 0, plain.stderr
        assert "\r" not in plain.stderr and " … " not in plain.stderr and plain.stdout.strip()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_count_that_comes_too_soon_is_drawn_late_and_a_stage_ends_with_its_last_count():
    screen = _Terminal()
    with StageProgress(screen) as progress:
        progress("feeds fetched", 1, 10)
        progress("feeds fetched", 7, 10)  # within the redraw interval: not drawn now ...
        assert "7 of 10" not in screen.getvalue()
        assert wait_for(lambda: "feeds fetched: 7 of 10" in screen.getvalue(), timeout=5)  # ... but soon after
        progress("pages fetched", 1, 4)
        progress("pages fetched", 2, 4)
        progress("feeds polled", 0, 10)  # the next stage: the last one stays on screen with its latest count
        assert "\r\x1b[Kpages fetched: 2 of 4\n" in screen.getvalue()
    lines = screen.getvalue().replace("\x1b[K", "").split("\n")
    assert [line.rsplit("\r", 1)[-1] for line in lines] == ["feeds fetched: 7 of 10", "pages fetched: 2 of 4",
                                                            "feeds polled: 0 of 10", ""]


def test_near_misses_shows_progress_on_a_terminal(site, write_config):
    """`rules near-misses` walks every stored article (a few ms each): on a terminal it counts them as it goes."""
    config = write_config([{"url": site.url("/feeds/northwire.xml")}], extract={"workers": 0})
    assert cli(config, "run", "--once").returncode == 0
    code, out, terminal = _run_on_terminal(config, "rules", "near-misses", "all")
    assert code == 0, terminal
    seen = int(re.search(r"(\d+) articles since", out).group(1))
    assert seen > 0 and f"articles checked: {seen} of {seen}" in terminal.replace("\x1b[K", "")
    plain = cli(config, "rules", "near-misses", "all")
    assert plain.returncode == 0 and "articles checked" not in plain.stderr and "\r" not in plain.stderr
