"""`news-monitor export csv|json|atom hits|releases`: the hits and the release ledger for spreadsheets and
other tools, as the records of `hits --json` and `releases --json` (one CSV row or one JSON array item each),
or as an Atom feed (monitor.atom).

CSV cells that a spreadsheet would run as a formula (=, +, -, @ first) get a leading apostrophe: titles
come from feeds, and a feed must not put a formula into an analyst's spreadsheet.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import timedelta

import click

from monitor.atom import hits_feed, releases_feed
from monitor.cli.context import Context, guarded
from monitor.clock import utcnow

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """A record's value as one CSV cell: lists joined by '; ', booleans as true/false, formulas defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = "; ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


@click.command()
@click.argument("fmt", metavar="csv|json|atom", type=click.Choice(["csv", "json", "atom"]))
@click.argument("what", metavar="hits|releases", type=click.Choice(["hits", "releases"]))
@click.option("--since", help="hits: only those first seen within this long, e.g. 30d.")
@click.option("--rule", help="hits: only articles that hit this rule.")
@click.pass_obj
@guarded
def export(obj: Context, fmt: str, what: str, since: str | None, rule: str | None) -> None:
    """Write hits or the release ledger to standard output as CSV (a header row), one JSON array, or an
    Atom feed (one entry per story; the service keeps state/hits.atom and state/releases.atom up to date)."""
    from monitor.config import parse_duration
    from monitor.records import HIT_FIELDS, RELEASE_FIELDS, hit_records, release_records
    from monitor.store import Store

    try:
        window = utcnow() - timedelta(seconds=parse_duration(since)) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    with Store.open(obj.config.db_path) as store:
        records = hit_records(store, since=window, rule=rule) if what == "hits" else release_records(store)
    if fmt == "atom":
        feed = hits_feed(records, title=f"news-monitor hits: {rule}" if rule else "news-monitor hits") \
            if what == "hits" else releases_feed(records)
        click.echo(feed)  # bytes: written as they are, UTF-8 as the XML declaration says
        return
    if fmt == "json":
        click.echo(json.dumps(records, ensure_ascii=False, indent=1))
        return
    columns = HIT_FIELDS if what == "hits" else RELEASE_FIELDS
    writer = csv.writer(sys.stdout, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writerow(columns)
    for record in records:
        writer.writerow([cell(record[c]) for c in columns])

