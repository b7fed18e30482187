"""The shape rules of STYLE.md, checked: pure modules import no I/O module, only store.py writes
SQL, only fetch.py does HTTP, and every module opens with a docstring saying what it owns. In tests/, test
modules share code only through helper modules (not each other, conftest or bench/), and conftest holds fixtures."""

from __future__ import annotations

import ast

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "monitor"
MODULES = sorted(PACKAGE.rglob("*.py"))
PURE_PACKAGES = ["decide", "text"]  # every module in them is pure
PURE = ["models", "errors", "digest", "render", "blocks", "polling", "delivery", "rules.book", "rules.query",
        "rules.evaluate", "rules.ruleset", "rules.matching", "addresses", "links", "schedule", "health",
        "search", "atom", "commonmark",
        *sorted(module_path.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", ".")
                for package in PURE_PACKAGES for module_path in (PACKAGE / package).glob("*.py"))]
IO_MODULES = {"monitor.fetch", "monitor.store", "monitor.service", "monitor.cli", "monitor.pipeline",
              "monitor.channels", "aiohttp", "sqlite3", "sqlite_utils", "smtplib", "socket", "requests",
              "urllib.request", "httpx", "apscheduler", "subprocess", "apprise"}


def module_name(path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


# what the deciding core must not reach for: files, config, the edges' libraries
LOADERS = {"monitor.rules.files", "monitor.yamlfile", "monitor.config", "monitor.feeds", "monitor.extract",
           "monitor.extract_pool", "yaml", "feedparser", "trafilatura"}


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_no_io(name):
    path = PACKAGE / (name.replace(".", "/") + ".py")
    if not path.exists():
        path = PACKAGE / name.replace(".", "/") / "__init__.py"
    bad = {m for m in imports(path) for io in IO_MODULES if m == io or m.startswith(io + ".")}
    assert not bad, f"monitor.{name} imports {bad}"


@pytest.mark.parametrize("path", [p for package in PURE_PACKAGES for p in sorted((PACKAGE / package).glob("*.py"))],
                         ids=module_name)
def test_decide_and_text_read_no_files(path):
    bad = {m for m in imports(path) for io in LOADERS if m == io or m.startswith(io + ".")}
    assert not bad, f"{module_name(path)} imports {bad}"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_only_store_speaks_sql_and_only_fetch_speaks_http(path):
    name = module_name(path)
    mods = imports(path)
    if name != "monitor.migrations" and name.split(".")[:2] != ["monitor", "store"]:
        assert not {"sqlite3", "sqlite_utils"} & mods, f"{name} talks to SQLite"
    if name != "monitor.fetch":
        assert "aiohttp" not in mods and not any(m.startswith("aiohttp") for m in mods), f"{name} does HTTP"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_every_module_has_an_owning_docstring(path):
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert doc and len(doc.splitlines()) <= 12, f"{module_name(path)} needs a short docstring"


@pytest.mark.parametrize("path", sorted((PACKAGE / "channels").glob("*.py")), ids=module_name)
def test_channels_send_what_they_are_given_without_the_store(path):
    assert "monitor.store" not in imports(path), f"{module_name(path)} imports the store"


def test_every_web_connection_goes_through_the_address_policy():
    """Sessions, connectors and sockets for the web are made in fetch.py only, and its one connector
    carries the policy's resolver and socket gate: no code path connects around the address policy."""
    makers = {"ClientSession", "TCPConnector", "UnixConnector", "request", "socket", "create_connection",
              "open_connection", "urlopen", "HTTPConnection", "HTTPSConnection"}
    found = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] in makers:
                found.append((module_name(path), ast.unparse(node.func), {k.arg for k in node.keywords}))
    # the extraction fork server wraps the Unix socket it inherits (fileno=): a socket that cannot connect anywhere
    local = [(module, call, keywords) for module, call, keywords in found if module == "monitor.extract_server"]
    assert local == [("monitor.extract_server", "socket.socket", {"fileno"})], local
    assert {(module, call) for module, call, _ in found if module != "monitor.extract_server"} == {
        ("monitor.fetch", "aiohttp.TCPConnector"), ("monitor.fetch", "aiohttp.ClientSession"),
        ("monitor.fetch", "socket.socket")}, found
    connector = next(keywords for _, call, keywords in found if call == "aiohttp.TCPConnector")
    assert {"resolver", "socket_factory"} <= connector


def test_apprise_sends_only_under_the_address_policy():
    """Apprise makes its own connections: every notify() call in monitor/ sits inside a `with` of
    guard.guarded_connections, so the address policy judges each socket it connects."""
    calls, guarded = [], []
    for path in MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith(".notify"):
                calls.append((module_name(path), node.lineno))
            if isinstance(node, ast.With) and any("guarded_connections" in ast.unparse(i.context_expr)
                                                  for i in node.items):
                guarded += [(module_name(path), n.lineno) for stmt in node.body for n in ast.walk(stmt)
                            if isinstance(n, ast.Call) and ast.unparse(n.func).endswith(".notify")]
    assert calls and sorted(calls) == sorted(guarded), (calls, guarded)


# -- the tests' own shape ----------------------------------------------------------------------------------

TEST_MODULES = sorted((ROOT / "tests").glob("test_*.py"))
# a test of a bench module's own code imports that module: the one way from the tests into bench/
BENCH_SUBJECTS = {"test_bench_fill.py": {"bench", "bench.e2e"}}


def imported_modules(source: str) -> set[str]:
    """Every module an import statement names, in full: `from tests import test_x` gives tests.test_x, and a
    relative import inside tests/ is resolved against tests."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(filter(None, ["tests" if node.level else "", node.module or ""]))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def borrowed(source: str) -> set[str]:
    """What a test module imports from another test module, from conftest or from bench/."""
    return {m for m in imported_modules(source)
            if m.startswith("tests.test_") or m == "tests.conftest" or m == "bench" or m.startswith("bench.")}


def test_the_borrowing_check_sees_every_form_of_import():
    assert borrowed("from tests.test_store import message") == {"tests.test_store", "tests.test_store.message"}
    assert borrowed("from tests import conftest, helpers") == {"tests.conftest"}
    assert borrowed("from .test_store import message\nfrom . import conftest") >= {"tests.test_store",
                                                                                   "tests.conftest"}
    assert borrowed("import bench.e2e\ndef f():\n    from bench import extract_quality") == {
        "bench.e2e", "bench", "bench.extract_quality"}
    assert not borrowed("from tests.helpers import ROOT\nfrom tests.servers import SiteServer\nimport benchmark")


@pytest.mark.parametrize("path", TEST_MODULES, ids=lambda path: path.stem)
def test_test_modules_share_code_only_through_helper_modules(path):
    bad = borrowed(path.read_text(encoding="utf-8")) - BENCH_SUBJECTS.get(path.name, set())
    assert not bad, f"{path.name} imports {sorted(bad)}: move what it shares into a helper module under tests/"


def _is_fixture(node: ast.stmt) -> bool:
    return isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list)


def test_conftest_holds_only_fixtures():
    tree = ast.parse((ROOT / "tests" / "conftest.py").read_text(encoding="utf-8"))
    others = [ast.unparse(node).splitlines()[0] for node in tree.body[1:]  # after the docstring
              if not isinstance(node, ast.Import | ast.ImportFrom) and not _is_fixture(node)]
    assert not others, f"conftest.py defines more than fixtures: {others}"
