"""Security headers on every response (a strict CSP, no referrer, no sniffing, no framing), and what a
request may not choose: the service's mount point and the host its redirects lead to.

Never build a link or a redirect from a request's Host header or SCRIPT_NAME: the mount point comes from
``server.public_url`` (:class:`MountPoint`), and Werkzeug's own redirects (a missing trailing slash) are
made relative.

Also: the session (the admin console's signed cookie) is opened only under the cookie's own path, the
one place a browser sends it; everywhere else, the click path above all, a request gets an empty session
without building the cookie signer (a measurable share of a redirect's time).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes, urlsplit

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.routing import RequestRedirect

from linkgate.gateaddress import gate_address

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "interest-cohort=(), browsing-topics=(), camera=(), microphone=(), geolocation=()",
}
_HEADER_ITEMS = tuple(HEADERS.items())
_HEADER_NAMES = frozenset(name.lower() for name in HEADERS)


class CookiePathSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, read only where the browser sends the cookie.

    A browser sends a cookie only to paths under its ``Path`` (``SESSION_COOKIE_PATH``, ``/admin``), so
    anywhere else the session is always empty: hand out the empty session Flask would build, without
    building a signer first. ``startswith`` matches every path the browser's path-match does, and more.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not (request.script_root + request.path).startswith(self.get_cookie_path(app)):
            return self.session_class()
        return super().open_session(app, request)


def mount_point(public_url: str) -> str:
    """The path the service is mounted at, as WSGI's SCRIPT_NAME spells it: the gate address's path
    (``server.public_url``'s, as a browser writes it, without its final slash; ``""`` at the root of its
    host), percent-decoded."""
    return unquote_to_bytes(gate_address(public_url).path).decode("latin-1")


class MountPoint:
    """Sets SCRIPT_NAME to the configured mount point, whatever the server put there.

    gunicorn takes SCRIPT_NAME from a request header when the peer is in its ``forwarded_allow_ips``
    (loopback by default), and every link the pages make starts with it: ``SCRIPT_NAME: //evil.example``
    turned "Check again" and the stylesheet's address into another site's. So the address asked for is
    put back together (SCRIPT_NAME + PATH_INFO) and split again at the configured mount point; a path
    outside it (a proxy that strips the mount point, or a direct request) is served as it is.
    """

    def __init__(self, app: WSGIApplication, mount: str) -> None:
        self.app = app
        self.mount = mount
        self.inside = mount + "/"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        if self.mount and (path == self.mount or path.startswith(self.inside)):
            path = path[len(self.mount) :]
        environ["SCRIPT_NAME"] = self.mount
        environ["PATH_INFO"] = path
        return self.app(environ, start_response)


def _relative(location: str) -> str:
    """A redirect's path and query alone (one leading slash), so that no Host header can choose its host."""
    parts = urlsplit(location)
    path = "/" + parts.path.lstrip("/")
    return f"{path}?{parts.query}" if parts.query else path


def init_app(app: Flask) -> None:
    if type(app.session_interface) is SecureCookieSessionInterface:  # leave a custom interface alone
        app.session_interface = CookiePathSessionInterface()

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        names = [name.lower() for name, _value in headers]  # one pass (a Headers look-up scans them all)
        if _HEADER_NAMES.isdisjoint(names):
            headers.extend(_HEADER_ITEMS)
        else:  # a view chose some of them: keep its values
            for name, value in _HEADER_ITEMS:
                headers.setdefault(name, value)
        if isinstance(request.routing_exception, RequestRedirect) and response.location:
            # Werkzeug writes the request's Host header into the redirects it makes (a missing trailing
            # slash): keep the path alone, which the browser resolves against the address it asked.
            response.location = _relative(response.location)
        if "set-cookie" in names:
            path = request.path
            if path == "/go" or not path.startswith("/admin"):
                # No cookie is ever set outside the admin console.
                headers.remove("Set-Cookie")
        return response
