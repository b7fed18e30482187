"""The APScheduler service: the digest job fires at the configured local time (UTC inside), the poll
tick starts at once and asks the store what is due; a cycle that raises does not kill the service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.schedule import next_slot
from monitor.store import Store
from tests.helpers import make_service


def test_digest_slots_are_local_time_and_both_ticks_start_now(write_config):
    service, config = make_service(write_config([], digest={"at": "08:30", "timezone": "Europe/Vilnius"}))
    digest = config.digest
    winter = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 10, 12, 0, tzinfo=UTC)
    assert next_slot(winter, digest.times, digest.timezone, digest.weekdays) == datetime(2026, 1, 11, 6, 30, tzinfo=UTC)
    assert next_slot(summer, digest.times, digest.timezone, digest.weekdays) == datetime(2026, 7, 11, 5, 30, tzinfo=UTC)
    service.schedule()
    service.scheduler.start(paused=True)
    try:
        for job in ("poll", "digest"):
            tick = service.scheduler.get_job(job)
            assert tick.trigger.interval == timedelta(seconds=config.service.tick) == timedelta(seconds=30)
            assert tick.next_run_time <= datetime.now(UTC) + timedelta(seconds=1)
    finally:
        service.scheduler.shutdown(wait=False)


def test_only_due_feeds_are_polled_by_the_tick(site, write_config):
    now = [datetime(2026, 11, 22, 12, 0, tzinfo=UTC)]
    config_path = write_config([{"url": site.url("/feeds/northwire.xml"), "interval": "15m"},
                                {"url": site.url("/feeds/minsk-monitor.atom"), "interval": "1h"}])
    service, config = make_service(config_path, clock=lambda: now[0])
    service.poll()
    assert len([r for r in site.requests if r.path.startswith("/feeds/")]) == 2
    now[0] += timedelta(minutes=20)  # northwire is due again, minsk-monitor is not
    service.poll()
    feed_requests = [r.path for r in site.requests if r.path.startswith("/feeds/")]
    assert feed_requests.count("/feeds/northwire.xml") == 2 and feed_requests.count("/feeds/minsk-monitor.atom") == 1
    # the second poll of an unchanged feed is conditional, and the server's 304 is understood
    assert site.hits_for("/feeds/northwire.xml")[-1].headers.get("if-none-match", "").startswith('"')
    with Store.open(config.db_path) as store:
        assert [f["errors"] for f in store.feed_health()] == [0, 0]
    with Store.open(config.db_path) as store:
        assert store.counts()["articles"] == 8


def test_a_failing_cycle_is_logged_and_the_service_goes_on(write_config, caplog, tmp_path):
    service, config = make_service(write_config([]))
    config.state_dir.mkdir(parents=True, exist_ok=True)
    config.db_path.mkdir()  # the database path is a directory: every cycle fails
    service.poll()
    service.digest()
    assert "poll cycle failed" in caplog.text and "digest failed" in caplog.text
