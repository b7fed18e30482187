"""Hot reload: the running service sees edits in rules_dir within seconds (change, add, delete, an
editor's write-then-rename); a bad edit is reported and that rule's last good version stays."""

from __future__ import annotations

import logging
import os
import shutil

from click.testing import CliRunner

from monitor.cli import main
from monitor.rules.files import RuleSource
from monitor.service import RULES_WATCH_SECONDS
from tests.helpers import make_service, wait_for


def names(book) -> list[str]:
    return sorted(book.names)


def test_edits_apply_and_bad_edits_keep_the_last_good_rule(tmp_path, caplog):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "zapad.yaml").write_text("name: zapad\nquery: 'zapad AND drills'\n")
    (rules / "coale.yaml").write_text("name: coale\nquery: 'coale AND envoy'\n")
    source = RuleSource(rules, logging.getLogger("test"))
    book = source.current()
    assert names(book) == ["coale", "zapad"]

    # a valid change applies; an editor's write-then-rename is seen too
    tmp = rules / ".zapad.yaml.swp"
    tmp.write_text("name: zapad\nquery: 'zapad AND (drills OR exercise)'\n")
    os.replace(tmp, rules / "zapad.yaml")
    assert "exercise" in source.current().get("zapad").query

    # a bad edit: reported, the last good zapad stays, coale is untouched
    (rules / "zapad.yaml").write_text("name: zapad\nquery: 'zapad AND (drills'\n")
    book = source.current()
    assert "exercise" in book.get("zapad").query and book.get("coale") is not None
    assert len(source.errors) == 1 and "zapad.yaml:2" in source.errors[0].located()
    assert "last good version stays in force" in caplog.text

    # add one, delete one
    (rules / "sanctions.yaml").write_text("name: sanctions\nquery: 'sanction* AND belarus'\n")
    (rules / "coale.yaml").unlink()
    assert names(source.current()) == ["sanctions", "zapad"]

    # a new file that is invalid from the start adds nothing and is reported
    (rules / "new.yaml").write_text("name: new\nquery: 'AND'\n")
    assert names(source.current()) == ["sanctions", "zapad"]
    assert sorted(e.path.rsplit("/", 1)[-1] for e in source.errors) == ["new.yaml", "zapad.yaml"]


def test_the_running_service_picks_up_edits_within_seconds(write_config, tmp_path):
    config_path = write_config([])
    rules = tmp_path / "rules"
    source = RuleSource(rules)
    service, _ = make_service(config_path)
    service.watch_rules = source.current
    service.pipeline.rules = source.current
    source.current()
    service.schedule()
    service.scheduler.start()
    try:
        shutil.copy(rules / "zapad.yaml", tmp_path / "zapad.bak")
        (rules / "zapad.yaml").write_text("name: zapad\nquery: 'zapad AND parade'\n")
        assert wait_for(lambda: "parade" in source._book.get("zapad").query, timeout=RULES_WATCH_SECONDS * 3)
    finally:
        service.scheduler.shutdown(wait=False)


def test_status_reports_rule_problems_and_the_digest_shows_them(write_config, tmp_path):
    config = write_config([])
    (tmp_path / "rules" / "zapad.yaml").write_text("name: zapad\nquery: 'zapad AND (drills'\n")
    result = CliRunner().invoke(main, ["--config", str(config), "status"])
    assert result.exit_code == 0
    assert "edits not applied" in result.output and "zapad.yaml:2" in result.output

    from datetime import UTC, datetime

    from monitor.digest import build_message
    message = build_message("digest", [], datetime.now(UTC), rule_errors=["rules/zapad.yaml:2:20: expected ')'"])
    assert "1 rule edit not applied" in message.text and "zapad.yaml:2:20" in message.html
    assert message.data["health"]["rule_errors"] == ["rules/zapad.yaml:2:20: expected ')'"]
