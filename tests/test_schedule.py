"""Digest schedules: slots in local time across DST changes (a test clock), several times a day, weekly;
the service's digest tick sends a slot once, catches up a slot missed while it was down, and a first start
sends nothing it could not have missed."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from monitor.schedule import last_slot, next_slot, slots
from monitor.store import Store
from tests.helpers import make_service
from tests.helpers import outbox as outbox_files

EVERY_DAY = frozenset(range(7))


def test_a_time_of_day_is_sent_once_a_day_across_both_dst_changes():
    # Vilnius: 2026-03-29 03:00 -> 04:00 (03:30 does not exist); 2026-10-25 04:00 -> 03:00 (03:30 happens twice)
    spring = list(slots(date(2026, 3, 28), date(2026, 3, 30), [time(3, 30)], "Europe/Vilnius", EVERY_DAY))
    assert spring == [datetime(2026, 3, 28, 1, 30, tzinfo=UTC),   # 03:30 EET
                      datetime(2026, 3, 29, 1, 30, tzinfo=UTC),   # the missing 03:30: sent at 04:30 EEST
                      datetime(2026, 3, 30, 0, 30, tzinfo=UTC)]   # 03:30 EEST
    autumn = list(slots(date(2026, 10, 24), date(2026, 10, 26), [time(3, 30)], "Europe/Vilnius", EVERY_DAY))
    assert autumn == [datetime(2026, 10, 24, 0, 30, tzinfo=UTC),
                      datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # the first 03:30 only
                      datetime(2026, 10, 26, 1, 30, tzinfo=UTC)]
    # a day with the clock change is 23 or 25 hours long, and 08:00 stays 08:00 local on both sides
    at8 = list(slots(date(2026, 3, 28), date(2026, 3, 29), [time(8)], "Europe/Vilnius", EVERY_DAY))
    assert at8[1] - at8[0] == timedelta(hours=23)


def test_several_times_a_day_and_weekly():
    times = [time(8), time(17)]
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday, UTC
    assert last_slot(now, times, "UTC", EVERY_DAY) == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    assert next_slot(now, times, "UTC", EVERY_DAY) == datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
    mondays = frozenset({0})
    assert last_slot(now, [time(9)], "UTC", mondays) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert next_slot(now, [time(9)], "UTC", mondays) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def sent(service, config_path) -> int:
    """The digests sent: the service's delivery thread is not running here, so deliver the queue first."""
    service.deliver()
    return len(outbox_files(config_path, "digest"))


def test_the_service_sends_each_slot_once_and_catches_up_a_missed_one(write_config):
    config_path = write_config([], digest={"at": ["08:00", "17:00"], "timezone": "Europe/Vilnius"})
    clock = [datetime(2026, 3, 28, 5, 0, tzinfo=UTC)]  # 07:00 in Vilnius: the first start ever
    service, config = make_service(config_path, clock=lambda: clock[0])
    service.digest_if_due()
    assert sent(service, config_path) == 0  # a first start sends nothing it could not have missed
    clock[0] = datetime(2026, 3, 28, 6, 0, 30, tzinfo=UTC)  # 08:00:30 local: the tick finds the 08:00 slot
    service.digest_if_due()
    service.digest_if_due()
    assert sent(service, config_path) == 1
    # down from noon until the next morning, across the DST change: the 17:00 slot was missed; one digest at
    # start for the latest slot that has come (08:00 of the 29th, now EEST) carries every hit since
    later, config = make_service(config_path, clock=lambda: clock[0])
    clock[0] = datetime(2026, 3, 29, 5, 10, tzinfo=UTC)  # 08:10 EEST
    later.digest_if_due()
    later.digest_if_due()
    assert sent(later, config_path) == 2
    with Store.open(config.db_path) as store:
        assert store.schedule_rows()["digest"]["slot"] == "2026-03-29T05:00:00Z"  # 08:00 EEST
        assert store.heartbeats()["digest"]["counts"] == {"items": 0}
    clock[0] = datetime(2026, 3, 29, 13, 59, tzinfo=UTC)  # 16:59 EEST: nothing due
    later.digest_if_due()
    assert sent(later, config_path) == 2
    clock[0] = datetime(2026, 3, 29, 14, 0, tzinfo=UTC)  # 17:00 EEST
    later.digest_if_due()
    assert sent(later, config_path) == 3


def test_digest_config_accepts_the_old_form_a_list_and_weekdays(tmp_path):
    import pytest

    from monitor.config import load_config
    from monitor.errors import ConfigError

    def config(text: str):
        path = tmp_path / "monitor.yaml"
        path.write_text(text, encoding="utf-8")
        return load_config(path)

    assert config('digest:\n  at: "08:00"\n').digest.times == [time(8)]
    listed = config('digest:\n  at: ["17:00", "08:00"]\n  days: [Monday, thu]\nservice:\n  tick: 10s\n')
    assert listed.digest.times == [time(8), time(17)] and listed.digest.weekdays == {0, 3}
    assert listed.service.tick == 10 and listed.service.stale_limit == 30
    with pytest.raises(ConfigError, match=r"monitor.yaml:3: digest.days: .*weekdays"):
        config('digest:\n  at: "08:00"\n  days: [someday]\n')
    with pytest.raises(ConfigError, match=r"monitor.yaml:2: digest.at.*quoted"):
        config('digest:\n  at: ["08:00", 17:00]\n')
