"""`news-monitor browse`: Datasette on the state database, read-only, with canned queries (today's hits by
topic, stories with their sources, the release ledger, feed health, dead deliveries: store.browse_queries).

Datasette opens the file in its default mode, a read-only connection (`?mode=ro`), NOT its immutable mode
(`-i`, `?immutable=1`): immutable tells SQLite the file never changes, so it takes no locks and ignores the
write-ahead log — while the service writes, that reader misses every commit not yet checkpointed and can read
a page a checkpoint is rewriting (wrong rows, "database disk image is malformed"). A read-only connection to a
WAL database reads a consistent snapshot, never blocks the service's writer and cannot write; its canned
queries are SELECTs, and Datasette's time limit bounds how long a snapshot holds back a checkpoint.

Datasette is an optional extra (`pip install 'news-monitor[browse]'`); it binds loopback unless told
otherwise, because it has no login: whoever reaches the port reads every article, hit and delivery.
"""

from __future__ import annotations

import ipaddress
import json
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from monitor.cli.context import Context, guarded

INSTALL = "pip install 'news-monitor[browse]'"
TIME_LIMIT_MS = 10_000  # Datasette's default is 1 s; the release ledger reads every article's facts


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve to anything
        return False


def metadata(database: str, timezone: str, now: datetime) -> dict:
    """Datasette metadata: the title and the canned queries of `database`; "today" is the day in `timezone`
    (its UTC offset as of `now`)."""
    from monitor.store import browse_queries  # the store is loaded by the command that uses it, not by --help

    offset = now.astimezone(ZoneInfo(timezone)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    queries = browse_queries(minutes)
    queries["todays_hits"]["title"] += f" ({timezone})"
    return {"title": "news-monitor", "description": "The monitor's state database, read-only.",
            "databases": {database: {"queries": queries}}}


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--allow-remote", is_flag=True,
              help="Allow a non-loopback --host. Datasette has no login: anyone who reaches it reads everything.")
@click.pass_obj
@guarded
def browse(obj: Context, host: str, port: int, allow_remote: bool) -> None:
    """Browse the state database in Datasette (read-only) with canned queries: today's hits by topic,
    stories with their sources, the release ledger, feed health, dead deliveries."""
    if not is_loopback(host) and not allow_remote:
        raise click.UsageError(f"--host {host} is not a loopback address: Datasette has no login, so anyone who "
                               "reaches it reads every article, hit and delivery. Add --allow-remote to do it anyway.")
    try:
        from datasette.cli import cli as datasette  # imported here: an optional extra
    except ImportError:
        raise click.ClickException(f"browse needs Datasette, an optional extra: {INSTALL}") from None
    config = obj.config
    path = config.db_path
    if not path.exists():
        raise click.ClickException(f"no database yet at {path}: `news-monitor run --once` creates it")

    now = datetime.now().astimezone()
    with tempfile.TemporaryDirectory(prefix="news-monitor-browse-") as scratch:
        meta = Path(scratch) / "metadata.json"
        meta.write_text(json.dumps(metadata(path.stem, config.digest.timezone, now), ensure_ascii=False),
                        encoding="utf-8")
        click.echo(f"news-monitor: browsing {path} read-only at http://{host}:{port}/{path.stem} (Ctrl-C stops)",
                   err=True)
        datasette.main(["serve", str(path), "--metadata", str(meta), "--host", host, "--port", str(port),
                        "--setting", "sql_time_limit_ms", str(TIME_LIMIT_MS)],
                       prog_name="news-monitor browse", standalone_mode=False)
