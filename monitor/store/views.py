"""Read-only views of the store for `news-monitor browse`: Datasette's canned queries."""

from __future__ import annotations

STORIES_LISTED = 500  # the browse view's stories: a canned query has no paging (Datasette stops at 1,000 rows)


def browse_queries(utc_offset_minutes: int = 0) -> dict[str, dict[str, str]]:
    """Datasette canned queries over this schema: name -> title, description, sql. Read-only SELECTs (Datasette
    runs them on a read-only connection). `utc_offset_minutes`: where the user's day starts, for "today"."""
    shift = f"{utc_offset_minutes:+d} minutes"
    back = f"{-utc_offset_minutes:+d} minutes"
    today = f"strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '{shift}', 'start of day', '{back}')"
    reports = ("(SELECT count(*) FROM articles WHERE story = s.id) + (SELECT count(*) FROM sources src "
               "JOIN articles a ON a.id = src.article_id WHERE a.story = s.id)")
    # Columns stored after an article's text (first_seen, story, release_facts) cost a walk through the text's
    # overflow pages: the story's articles are found on idx_articles_story, and ordered by id (the order stored).
    outlets = ("(SELECT group_concat(outlet, ', ') FROM (SELECT DISTINCT feed_name AS outlet FROM "
               "(SELECT feed_name, 0 AS copy, id FROM articles WHERE story = s.id UNION ALL SELECT src.feed_name, "
               "1, src.id FROM sources src JOIN articles a ON a.id = src.article_id WHERE a.story = s.id) "
               "WHERE feed_name IS NOT NULL ORDER BY copy, id))")
    lead = "(SELECT {column} FROM articles WHERE story = s.id ORDER BY id LIMIT 1)"
    # release facts are read on the partial index articles_release_facts (migration 013), never from the rows
    facts = ("SELECT json_extract(release_facts, '{pick}') AS fact FROM articles WHERE story = s.id "
             "AND release_facts IS NOT NULL AND fact IS NOT NULL")
    return {
        "todays_hits": {
            "title": "Today's hits by topic",
            "description": "Every hit stored since the start of today, grouped by topic (rule), newest first.",
            "sql": "SELECT h.rule AS topic, a.title, a.feed_name AS outlet, coalesce(a.canonical_url, a.url) AS url, "
                   "h.first_seen, CASE WHEN h.alert_message IS NOT NULL THEN 'alert' WHEN h.digest_message IS NOT "
                   "NULL THEN 'digest' ELSE 'pending' END AS sent_in, h.snippet, a.story "
                   "FROM hits h JOIN articles a ON a.id = h.article_id "
                   f"WHERE h.first_seen >= {today} ORDER BY h.rule, h.first_seen DESC, a.id DESC"},
        "stories": {
            "title": "Stories with their sources",
            "description": f"The {STORIES_LISTED} stories with hits most recently reported: the first headline, the "
                           "topics, and every outlet that carried it: its articles' outlets, then its copies'.",
            # the stories are picked first, by id alone: the columns are computed for those rows only
            "sql": "WITH recent AS (SELECT id FROM stories WHERE id IN (SELECT story FROM articles INDEXED BY "
                   "idx_articles_story WHERE id IN (SELECT article_id FROM hits)) "
                   f"ORDER BY last_seen DESC, id DESC LIMIT {STORIES_LISTED}) "
                   f"SELECT s.id AS story, {lead.format(column='title')} AS title, "
                   f"{lead.format(column='coalesce(canonical_url, url)')} AS url, "
                   "(SELECT group_concat(DISTINCT h.rule) FROM hits h JOIN articles a ON a.id = h.article_id "
                   f"WHERE a.story = s.id) AS topics, {outlets} AS outlets, {reports} AS reports, "
                   "s.first_seen, s.last_seen FROM stories s JOIN recent ON recent.id = s.id "
                   "ORDER BY s.last_seen DESC, s.id DESC"},
        "release_ledger": {
            "title": "Release ledger",
            "description": "Each story reporting a release of prisoners, newest first, with the facts its reports "
                           "gave: the number most reported, the earliest date, every name as written, the "
                           "destination most reported, the first broker named. (`news-monitor releases` also "
                           "folds the spellings of one name and a city into its country.)",
            "sql": f"SELECT s.id AS story, {lead.format(column='title')} AS title, "
                   f"{lead.format(column='coalesce(canonical_url, url)')} AS url, "
                   f"({facts.format(pick='$.number')} GROUP BY fact ORDER BY count(*) DESC, min(first_seen) "
                   "LIMIT 1) AS number, "
                   "(SELECT min(json_extract(release_facts, '$.date')) FROM articles WHERE story = s.id "
                   "AND release_facts IS NOT NULL) AS date, "
                   "(SELECT group_concat(DISTINCT n.value) FROM articles, json_each(articles.release_facts, "
                   "'$.names') n WHERE articles.story = s.id AND release_facts IS NOT NULL) AS names, "
                   f"({facts.format(pick='$.destination')} GROUP BY fact ORDER BY count(*) DESC, min(first_seen) "
                   "LIMIT 1) AS destination, "
                   f"({facts.format(pick='$.broker')} ORDER BY first_seen, id LIMIT 1) AS broker, "
                   f"{reports} AS reports, {outlets} AS outlets, s.first_seen FROM stories s "
                   "WHERE s.id IN (SELECT story FROM articles WHERE release_facts IS NOT NULL) "
                   "ORDER BY s.first_seen DESC, s.id DESC"},
        "feed_health": {
            "title": "Feed health",
            "description": "Every feed, the troubled first: disabled, then failing (errors in a row), with the "
                           "last error, since when it fails, and its items' problems in its last cycle.",
            "sql": "SELECT name, url, CASE WHEN disabled THEN 'disabled' WHEN errors > 0 THEN 'failing' "
                   "ELSE 'ok' END AS state, errors AS errors_in_a_row, failing_since, last_error, disabled_reason, "
                   "last_ok, last_checked, next_check, problems, problems_at FROM feeds "
                   "ORDER BY disabled DESC, errors DESC, name"},
        "dead_deliveries": {
            "title": "Dead deliveries",
            "description": "Messages a channel gave up on (`news-monitor outbox retry` sends them again).",
            "sql": "SELECT d.message_id, m.kind, m.subject, d.channel, d.attempts, d.reason, d.last_error, "
                   "coalesce(d.queued, m.created) AS queued, m.created, d.reported AS reported_in "
                   "FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE d.status = 'dead' "
                   "ORDER BY m.created DESC, d.channel"},
    }
