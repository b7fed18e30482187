"""OPML in and out: `feeds import` adds a reader's feeds to monitor.yaml keeping every comment, skips feeds
already there, refuses what the config refuses without touching the file; `feeds export` is OPML that
imports back to the same list; external entities and entity bombs in an OPML file are refused."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.opml import read_opml

CONFIG = """\
# Our monitor: keep this comment
state_dir: state   # where the database lives
feeds:
  # the wire first
  - url: https://wire.example/rss.xml
    name: Wire
    interval: 10m   # busy feed
channels:
  - type: file
"""

OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Analyst's reader</title></head>
  <body>
    <outline text="Belarus">
      <outline type="rss" text="Радыё &amp; Co" title="Радыё &amp; Co" xmlUrl="https://radio.example/feed?lang=be&amp;x=1"/>
      <outline type="rss" text="Wire again" xmlUrl="https://wire.example/rss.xml"/>
    </outline>
    <outline type="rss" text="Defence Desk" xmlUrl="https://defence.example/atom.xml"/>
    <outline type="rss" text="Defence Desk twice" xmlUrl="https://defence.example/atom.xml"/>
  </body>
</opml>
"""


def invoke(config, *args):
    return CliRunner().invoke(main, ["--config", str(config), *args])


def test_import_keeps_comments_and_skips_known_feeds(tmp_path):
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    (tmp_path / "reader.opml").write_text(OPML, encoding="utf-8")
    result = invoke(config, "feeds", "import", str(tmp_path / "reader.opml"))
    assert result.exit_code == 0, result.output
    assert "2 feeds added" in result.output and "2 skipped" in result.output and "[Belarus]" in result.output
    text = config.read_text(encoding="utf-8")
    for comment in ("# Our monitor: keep this comment", "# where the database lives", "# the wire first",
                    "# busy feed"):
        assert comment in text
    feeds = [(f.name, f.url) for f in load_config(config).feed_list()]
    assert feeds == [("Wire", "https://wire.example/rss.xml"),
                     ("Радыё & Co", "https://radio.example/feed?lang=be&x=1"),
                     ("Defence Desk", "https://defence.example/atom.xml")]
    again = invoke(config, "feeds", "import", str(tmp_path / "reader.opml"))
    assert "0 feeds added" in again.output and config.read_text(encoding="utf-8") == text


def test_export_imports_back_to_the_same_list(tmp_path):
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    (tmp_path / "reader.opml").write_text(OPML, encoding="utf-8")
    invoke(config, "feeds", "import", str(tmp_path / "reader.opml"))
    exported = invoke(config, "feeds", "export")
    assert exported.exit_code == 0 and exported.output.startswith("<?xml")
    back = read_opml(exported.output.encode())
    assert [(f.title, f.url) for f in back] == [(f.name, f.url) for f in load_config(config).feed_list()]


def test_a_feed_the_config_refuses_leaves_the_file_untouched(tmp_path):
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    (tmp_path / "bad.opml").write_text('<opml version="2.0"><body><outline text="x" xmlUrl="ftp://files.example/f"/>'
                                       "</body></opml>", encoding="utf-8")
    result = invoke(config, "feeds", "import", str(tmp_path / "bad.opml"))
    assert result.exit_code == 2 and "feed url must be http" in result.output and "after import" in result.output
    assert config.read_text(encoding="utf-8") == CONFIG and not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("data, message", [
    (b"<opml><body><outline", "not well-formed"),
    (b"<rss><channel/></rss>", "not an OPML document"),
])
def test_broken_opml_is_a_clear_error(data, message):
    with pytest.raises(ConfigError, match=message):
        read_opml(data, "reader.opml")


def test_external_entities_and_entity_bombs_are_refused():
    secret = (b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
              b'<opml version="2.0"><body><outline text="&secret;" xmlUrl="https://x.example/f"/></body></opml>')
    with pytest.raises(ConfigError, match="external entity"):
        read_opml(secret)
    levels = b"".join(b'<!ENTITY a%d "%s">' % (i + 1, (b"&a%d;" % i) * 10) for i in range(9))
    bomb = (b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a0 "aaaaaaaaaa">' + levels + b']><opml version="2.0">'
            b'<body><outline text="&a9;" xmlUrl="https://x.example/f"/></body></opml>')
    with pytest.raises(ConfigError, match="amplification"):
        read_opml(bomb)
