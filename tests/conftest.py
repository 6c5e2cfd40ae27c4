"""Shared fixtures: real linkgate servers (gunicorn subprocesses) on 127.0.0.1 with their own instance.

The database: SQLite (a file in each server's instance folder) unless ``LINKGATE_TEST_DATABASE=postgresql``,
when every server and every store a test makes gets a schema of its own in the PostgreSQL named by
``LINKGATE_TEST_POSTGRES_URL`` (default: ``127.0.0.1:5432``, database ``test``, as on the County's and
CI's machines), dropped at the end of the run. ``make test`` runs the suite once on each.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
LINKGATE = [sys.executable, "-m", "linkgate.cli"]
BROWSER_TESTS = ROOT / "tests" / "browser"  # every test that drives Chromium, and nothing else
SERVER_TESTS = ROOT / "tests" / "server"  # every test of a real gunicorn that is not a browser test

TEST_DATABASE = os.environ.get("LINKGATE_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
POSTGRES_URL = os.environ.get("LINKGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
if TEST_DATABASE not in {"sqlite", "postgresql"}:
    raise pytest.UsageError(f"LINKGATE_TEST_DATABASE must be sqlite or postgresql, not {TEST_DATABASE!r}")
ON_POSTGRES = TEST_DATABASE == "postgresql"
_schemas: list[str] = []


def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used (None when it can); asked once per run."""
    if not hasattr(postgres_unreachable, "answer"):
        import psycopg

        try:
            with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            answer = None
        except psycopg.Error as error:
            answer = f"PostgreSQL at {POSTGRES_URL} is not reachable: {str(error).strip()}"
        postgres_unreachable.answer = answer  # type: ignore[attr-defined]
    return postgres_unreachable.answer  # type: ignore[attr-defined,no-any-return]


def new_database_url(directory: Path) -> str:
    """A new, empty database for one server or store: a SQLite file in ``directory``, or a schema."""
    if not ON_POSTGRES:
        return f"sqlite:///{directory / 'linkgate.db'}"
    reason = postgres_unreachable()
    if reason is not None:
        unavailable(reason)
    import psycopg

    schema = f"lgtest_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    _schemas.append(schema)
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


def drop_test_schemas() -> None:
    """Drop every PostgreSQL schema this run made."""
    if not _schemas:
        return
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        while _schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{_schemas.pop()}" CASCADE')


def pytest_sessionfinish(session: pytest.Session) -> None:
    drop_test_schemas()


def pytest_report_header() -> str:
    where = POSTGRES_URL if ON_POSTGRES else "a SQLite file per server"
    return f"linkgate test database: {TEST_DATABASE} ({where})"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def statements_on_requests(engine: Any) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block, leaving out those of the process's upkeep thread
    (rule refreshes, count flushes, the archive's reload run on their own clock, whatever the test does):
    for tests that a click asks the database nothing."""
    import sqlalchemy as sa

    statements: list[str] = []

    def keep(*args: Any) -> None:
        if threading.current_thread().name != "linkgate-upkeep":
            statements.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)


def wait_for(condition: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Return once ``condition()`` is true (asked every 50 ms); fail the test if it is not within ``timeout``
    seconds. How a test waits for another thread or process, instead of sleeping for a fixed time."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what or condition.__qualname__}"
            )
        time.sleep(0.05)


class HeldPage:
    """A local site's page (a pytest-httpserver handler) that answers only once the test sets ``release``,
    noting the Host of each request as it arrives: a slow site whose slowness the test decides, no timer."""

    def __init__(self, body: str, content_type: str = "text/html") -> None:
        self.body = body
        self.content_type = content_type
        self.release = threading.Event()
        self.arrived: list[str] = []

    def __call__(self, request: Any) -> Any:
        from werkzeug import Response

        self.arrived.append(request.headers.get("Host", ""))
        self.release.wait(timeout=30)
        return Response(self.body, content_type=self.content_type)


@pytest.fixture
def threaded_site() -> Iterator[Any]:
    """A local site (pytest-httpserver) that answers several requests at once, as a real site does: a
    request held by a :class:`HeldPage` does not stop the others."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def local_server() -> Any:
    """A local site (pytest-httpserver) that answers several requests at once, as a real site does, and
    answers 404 to what it was not told to serve."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.no_handler_status_code = 404
    server.start()
    return server


@pytest.fixture
def site() -> Iterator[Any]:
    """The audit tests' County site: a :func:`local_server`."""
    server = local_server()
    yield server
    server.stop()


@pytest.fixture
def ext() -> Iterator[Any]:
    """The audit tests' off-site host: a second :func:`local_server`."""
    server = local_server()
    yield server
    server.stop()


def answers_health(url: str) -> bool:
    """Whether the linkgate server at ``url`` answers ``/healthz`` with 200 (False while it cannot)."""
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class LiveServer:
    """A real ``linkgate serve`` (gunicorn) with its own instance folder, config file and port.

    ``get`` and ``request`` take a path, or an address on the server (a link it made)."""

    def __init__(self, directory: Path, config: dict[str, dict[str, Any]] | None = None, workers: int = 1):
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        sections: dict[str, dict[str, Any]] = {
            "server": {
                "public_url": self.url,
                "port": self.port,
                "workers": workers,
                "threads": 4,
                "rules_refresh_seconds": 0.3,
                "counts_flush_seconds": 0.3,
            },
            # No test server asks the machine's resolver for a name: only names a test pins are found, so
            # a notice for www.example.org looks nothing up on the network.
            "fetch": {"privacy_wait_ms": 300, "system_resolver": False},
        }
        for section, values in (config or {}).items():
            sections.setdefault(section, {}).update(values)
        self.database_url = sections.get("database", {}).get("url") or new_database_url(
            directory / "instance"
        )
        if ON_POSTGRES:
            sections.setdefault("database", {}).setdefault("url", self.database_url)
        top = sections.pop("", {})
        lines = [f"{key} = {toml_value(value)}" for key, value in top.items()]
        for section, values in sections.items():
            lines.append(f"[{section}]")
            lines.extend(f"{key} = {toml_value(value)}" for key, value in values.items())
        self.config_path = directory / "linkgate.toml"
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("LINKGATE_")} | {
            "LINKGATE_CONFIG": str(self.config_path),
            "LINKGATE_INSTANCE": str(directory / "instance"),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = directory / "server.log"
        self._store: Any = None

    def cli(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*LINKGATE, *args],
            env=self.env,
            capture_output=True,
            text=True,
            input=input,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"linkgate {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def start(self) -> LiveServer:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*LINKGATE, "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"linkgate serve exited: {self.log_path.read_text(errors='replace')}")
            if answers_health(self.url):
                return self
            time.sleep(0.05)
        raise RuntimeError(f"linkgate serve did not start: {self.log_path.read_text(errors='replace')}")

    def stop(self) -> None:
        self.dispose_store()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("timeout", 10)
        kwargs.setdefault("follow_redirects", False)
        return httpx.request(method, self.url + path.removeprefix(self.url), **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    @property
    def database(self) -> Path:
        """The SQLite file (for tests of the file itself, marked ``sqlite_only``)."""
        assert not ON_POSTGRES, "a test that reads the SQLite file must be marked sqlite_only"
        return self.directory / "instance" / "linkgate.db"

    def store(self) -> Any:
        """The :class:`linkgate.store.Store` on this server's database, whichever it is: one per server,
        whose connections go when the server stops (PostgreSQL has a hundred for the whole run)."""
        from linkgate.store import Store

        if self._store is None:
            self._store = Store(self.database_url)
        return self._store

    def dispose_store(self) -> None:
        if self._store is not None:
            self._store.dispose()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class AppServer(LiveServer):
    """A :class:`LiveServer`'s twin served in this process, for every test that is not about the server.

    The same configuration file, instance folder and database; requests reach the application through
    httpx's WSGI transport (so tests read the same ``httpx.Response``), commands run through click's
    ``CliRunner`` (the same exit codes, stdout and stderr), and the ``linkgate`` log goes to ``log_path``
    while it runs. Starting one costs milliseconds where a gunicorn costs about a second.
    """

    app: Any = None
    client: httpx.Client | None = None
    _handler: logging.Handler | None = None

    def start(self) -> AppServer:
        from linkgate.config import load_settings
        from linkgate.web import create_app

        self._handler = logging.FileHandler(self.log_path, encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logging.getLogger("linkgate").addHandler(self._handler)
        self.app = create_app(load_settings(environ=self.env))
        self.client = httpx.Client(transport=httpx.WSGITransport(app=self.app), base_url=self.url)
        return self

    def stop(self) -> None:
        self.dispose_store()
        if self.app is not None:
            self.app.extensions["linkgate"].shutdown()
            self.app = None
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._handler is not None:
            logging.getLogger("linkgate").removeHandler(self._handler)
            self._handler.close()
            self._handler = None

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        assert self.client is not None, "start() the server first"
        kwargs.setdefault("follow_redirects", False)
        return self.client.request(method, path.removeprefix(self.url), **kwargs)

    def cli(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        from click.testing import CliRunner

        from linkgate.cli import main

        environment: dict[str, str | None] = {
            name: None for name in os.environ if name.startswith("LINKGATE_")
        }
        environment.update(
            LINKGATE_CONFIG=self.env["LINKGATE_CONFIG"], LINKGATE_INSTANCE=self.env["LINKGATE_INSTANCE"]
        )
        result = CliRunner(env=environment).invoke(main, list(args), input=input)
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            stderr += "".join(traceback.format_exception(*result.exc_info))  # as the process would print
        completed = subprocess.CompletedProcess(["linkgate", *args], result.exit_code, result.stdout, stderr)
        if check and completed.returncode != 0:
            raise AssertionError(
                f"linkgate {' '.join(args)} failed ({completed.returncode}): {completed.stderr}"
            )
        return completed


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway certificate authority, and a server certificate for allowed.test only (openssl): the
    server's context and a client context that trusts that authority alone."""
    if shutil.which("openssl") is None:
        unavailable("the openssl command is needed to make test certificates")
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*arguments: str) -> None:
        subprocess.run(["openssl", *arguments], cwd=folder, check=True, capture_output=True)

    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl(
        "req",
        "-x509",
        *new_key,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=linkgate test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    )
    openssl("req", *new_key, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=allowed.test")
    (folder / "leaf.ext").write_text("subjectAltName=DNS:allowed.test\nbasicConstraints=CA:FALSE\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.pem",
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(folder / "leaf.pem", folder / "leaf.key")
    client_context = ssl.create_default_context(cafile=folder / "ca.pem")
    return server_context, client_context


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A new, empty database of the run's kind (SQLite file or PostgreSQL schema) for one test."""
    return new_database_url(tmp_path)


@pytest.fixture
def store(database_url: str) -> Iterator[Any]:
    """A :class:`linkgate.store.Store` on a new database of the run's kind, with linkgate's schema."""
    from linkgate.store import Store

    made = Store(database_url)
    made.create_schema()
    yield made
    made.dispose()


def in_process_app(instance: Path, database_url: str, **settings: str) -> Any:
    """The Flask application in this process on ``database_url``, looking no name up on the network;
    ``settings`` are more ``LINKGATE_*`` variables without their prefix (``SERVER_COUNTS_FLUSH_SECONDS``)."""
    from linkgate.config import load_settings
    from linkgate.web import create_app

    environ = {
        "LINKGATE_INSTANCE": str(instance),
        "LINKGATE_DATABASE_URL": database_url,
        "LINKGATE_FETCH_SYSTEM_RESOLVER": "false",
    }
    environ.update({f"LINKGATE_{name}": value for name, value in settings.items()})
    return create_app(load_settings(environ))


@pytest.fixture
def console_app(tmp_path: Path, database_url: str) -> Iterator[Any]:
    """The application in this process on a new database of the run's kind, with one administrator,
    ``admin`` (password ``tests.console.ADMIN_PASSWORD``): the console tested through Flask's client."""
    from linkgate.accounts import create_account
    from tests.console import ADMIN_PASSWORD

    made = in_process_app(tmp_path / "instance", database_url)
    runtime = made.extensions["linkgate"]
    create_account(runtime.store, "admin", ADMIN_PASSWORD, "admin", "test")
    yield made
    runtime.shutdown()


def signed_in_client(app: Any, name: str = "admin") -> Any:
    """A Flask test client signed in to the console of ``app`` as ``name``."""
    from tests.console import ADMIN_PASSWORD, csrf_token

    client = app.test_client()
    token = csrf_token(client.get("/admin/login"))
    response = client.post(
        "/admin/login", data={"csrf_token": token, "name": name, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


GATE_RULES = (
    ("allow", "partner.example", "--note", "trusted partner"),
    ("block", "bad.partner.example", "--exact"),
    ("block", "blocked.example"),
    ("allow", "ok.blocked.example", "--exact"),
    ("allow", "notice-partner.example", "--action", "notice"),
    ("block", "evil.example.org"),
    ("allow", "www.evil.example.org"),
)


def serve_gate(server: LiveServer) -> Iterator[LiveServer]:
    """The gate's known rule set on ``server`` (in this process or a real gunicorn), for a fixture."""
    for args in GATE_RULES:
        server.cli(*args)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gate_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One shared gate, in this process, with a known rule set; tests must not change its rules.

    (tests/browser/ has a real gunicorn of the same name: Chromium needs a socket.)"""
    yield from serve_gate(AppServer(tmp_path_factory.mktemp("gate")))


def server_maker(tmp_path: Path, kind: type[LiveServer]) -> Iterator[Any]:
    started: list[LiveServer] = []

    def make(
        config: dict[str, dict[str, Any]] | None = None, workers: int = 1, start: bool = True
    ) -> LiveServer:
        directory = tmp_path / f"server{len(started)}"
        directory.mkdir()
        server = kind(directory, config, workers)
        started.append(server)
        return server.start() if start else server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Any]:
    """Start real gunicorn servers of one's own (stopped after the test): for tests of the server itself."""
    yield from server_maker(tmp_path, LiveServer)


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Any]:
    """Start in-process servers of one's own (:class:`AppServer`, stopped after the test)."""
    yield from server_maker(tmp_path, AppServer)


def chromium_path() -> str | None:
    """Where Chromium is, as linkgate finds it for the audit's --render."""
    from linkgate.audit.render import chromium

    return chromium()


def serve_console(server: LiveServer) -> Iterator[LiveServer]:
    """The console's accounts (an admin and a viewer) on ``server``, started, for a fixture."""
    from tests.console import ADMIN_PASSWORD, VIEWER_PASSWORD, create_account

    create_account(server, "admin", ADMIN_PASSWORD)
    create_account(server, "viewer", VIEWER_PASSWORD, role="viewer")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Per test module: the console in this process with an admin and a viewer; tests add rules with names
    of their own. (tests/browser/ has a real gunicorn of the same name.)"""
    yield from serve_console(AppServer(tmp_path_factory.mktemp("console")))


# ---- the browser: one headless Chromium for the whole session (see tests/browser/conftest.py) ----


def unavailable(reason: str) -> NoReturn:
    """Fail under CI, skip elsewhere: a missing tool the suite needs (Chromium, axe-core, nginx, openssl,
    PostgreSQL...) must never look like a pass."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} (CI is set, so this test may not be skipped)", pytrace=False)
    pytest.skip(reason)


def require_chromium() -> str:
    """Chromium's path, once it and Playwright are known to be there (else unavailable(), as for any
    browser test); for tests that start Chromium through linkgate rather than through ``browser``."""
    executable = chromium_path()
    if executable is None:
        unavailable("Chromium not found: install Debian's chromium package (/usr/bin/chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        unavailable("the playwright Python package is not installed: pip install -e '.[dev]'")
    return executable


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from tests.browser.conftest import CHROMIUM_ARGS

    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open a page in its own context, e.g. ``new_page(viewport=NARROW, bypass_csp=True)``; closed after."""
    from tests.browser.conftest import WIDE

    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        options.setdefault("viewport", WIDE)
        context = browser.new_context(**options)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    from tests.browser.conftest import AXE_SCRIPT

    if not AXE_SCRIPT.is_file():
        unavailable(f"axe-core not found at {AXE_SCRIPT}: run `npm install` in {ROOT}")
    return str(AXE_SCRIPT)


@pytest.fixture
def axe(axe_source: str) -> Callable[[Any], list[dict[str, Any]]]:
    """Run axe-core on a page and return its violations (every impact).

    ``add_script_tag`` inserts axe as an inline script, which the gate's CSP (``script-src 'self'``)
    rightly refuses: pages checked with axe must come from a context made with ``bypass_csp=True``.
    """

    from tests.browser.conftest import AXE_TAGS

    def run(page: Any) -> list[dict[str, Any]]:
        page.add_script_tag(path=axe_source)
        # resultTypes: full node lists only for violations, which is all we read (and faster).
        result = page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
            AXE_TAGS,
        )
        return list(result["violations"])

    return run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run every test that drives Chromium last, in their usual order; on the PostgreSQL run, only the
    tests whose outcome can depend on the database.

    Playwright's sync API keeps an event loop running in the main thread from the moment the session's
    browser starts until the session ends, and ``asyncio.run`` (the link audit) refuses to start inside
    a running loop; so the browser starts only once every other test has run.

    The PostgreSQL run leaves out what no database can change: modules marked ``database_free`` (pure
    code: parsing, classifying, signing, reading CSV and pages, fetching) and the browser tests (markup,
    accessibility and scripts). The SQLite run has them all, so no line goes untested.
    """
    # The suite's layers are its folders: a test that starts gunicorn is under tests/server/ (or drives
    # Chromium, which needs a socket, under tests/browser/).
    for item in items:
        if SERVER_TESTS in item.path.parents:
            item.add_marker(pytest.mark.server)
    strays = [
        item.nodeid
        for item in items
        if "make_server" in getattr(item, "fixturenames", ())
        and not {SERVER_TESTS, BROWSER_TESTS} & set(item.path.parents)
    ]
    if strays:
        raise pytest.UsageError(f"tests that start gunicorn outside {SERVER_TESTS}: {', '.join(strays)}")
    if ON_POSTGRES:
        skip = pytest.mark.skip(reason="tests the SQLite file itself; PostgreSQL has fault tests of its own")
        for item in items:
            if item.get_closest_marker("sqlite_only"):
                item.add_marker(skip)
        same_on_every_database = [
            item
            for item in items
            if item.get_closest_marker("database_free") or item.get_closest_marker("browser")
        ]
        if same_on_every_database:
            config.hook.pytest_deselected(items=same_on_every_database)
            left_out = set(same_on_every_database)
            items[:] = [item for item in items if item not in left_out]
    uses_browser = [item for item in items if "browser" in getattr(item, "fixturenames", ())]
    others = [item for item in items if "browser" not in getattr(item, "fixturenames", ())]
    # The suite's layers are its folders: a test that drives Chromium is under tests/browser/.
    strays = [
        item.nodeid
        for item in items
        if (item in uses_browser or item.get_closest_marker("browser"))
        and BROWSER_TESTS not in item.path.parents
    ]
    if strays:
        raise pytest.UsageError(f"browser tests outside {BROWSER_TESTS}: {', '.join(strays)}")
    items[:] = others + uses_browser
