"""What the console's tests share: a small browser that keeps the session cookie, sign-in, database reads."""

from __future__ import annotations

import re

import httpx
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from linkgate.store import engine_url
from tests.conftest import LiveServer, wait_for  # noqa: F401 (wait_for: the console's tests import it here)

ADMIN_PASSWORD = "correct horse battery staple"
VIEWER_PASSWORD = "viewer password 1234"


class Browser:
    """Just enough of a browser: keeps the console's session cookie and sends it only under its path.

    The cookie is Secure (served over https in production); the test servers speak plain http, so the
    cookie is kept here by hand, as a browser on https would keep it.
    """

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.cookie: str | None = None
        self.set_cookies: list[str] = []

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.cookie is not None and path.startswith("/admin"):
            headers["Cookie"] = f"session={self.cookie}"
        response = self.server.request(method, path, headers=headers, timeout=15, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            self.set_cookies.append(header)
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if name == "session":
                self.cookie = value if value and "1970" not in header else None
        return response

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs) -> httpx.Response:
        return self.request("POST", path, data=data, **kwargs)

    def token(self, path: str) -> str:
        response = self.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return csrf_token(response)

    def submit(self, path: str, data: dict[str, str], form_path: str | None = None) -> httpx.Response:
        """POST a form as a browser would after loading it (with its CSRF token)."""
        return self.post(path, {"csrf_token": self.token(form_path or path), **data})

    def log_in(self, name: str, password: str) -> httpx.Response:
        return self.submit("/admin/login", {"name": name, "password": password})


def csrf_token(response: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert match, "the page has no CSRF token"
    return match.group(1)


def signed_in(server: LiveServer, name: str = "admin", password: str = ADMIN_PASSWORD) -> Browser:
    browser = Browser(server)
    response = browser.log_in(name, password)
    assert response.status_code == 302, response.text
    return browser


def create_account(server: LiveServer, name: str, password: str, role: str = "admin") -> None:
    server.cli("create-admin", name, "--role", role, "--password-stdin", input=password + "\n")


def query(server: LiveServer, sql: str, *params: object) -> list[tuple]:
    """Read the server's database (SQLite or PostgreSQL) directly; ``?`` marks each parameter in turn.

    Write SQL both databases accept: booleans as ``TRUE``/``FALSE``, not 1/0.
    """
    return database_query(server.database_url, sql, *params)


def database_query(url: str, sql: str, *params: object) -> list[tuple]:
    parts = sql.split("?")
    assert len(parts) == len(params) + 1, "one parameter per ?"
    text = parts[0] + "".join(f":p{index}{part}" for index, part in enumerate(parts[1:]))
    engine = sa.create_engine(engine_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(text), {f"p{index}": value for index, value in enumerate(params)})
            return [tuple(row) for row in rows]
    finally:
        engine.dispose()


def change_log(server: LiveServer, action: str) -> list[tuple]:
    return query(server, "SELECT actor, target, before, after FROM change_log WHERE action = ?", action)
