"""Error pages: plain words, the County's look, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, Response, render_template
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

TITLES = {
    400: _l("Bad request"),
    404: _l("Page not found"),
    405: _l("Not allowed"),
    413: _l("Too large"),
    429: _l("Too many requests"),
}
MESSAGES = {
    400: _l("The request could not be understood."),
    404: _l("There is no page at this address."),
    405: _l("This page cannot be used that way."),
    413: _l("What was sent is too large."),
    429: _l("Too many requests came from your connection. Wait a moment, then try again."),
}


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        message = MESSAGES.get(status, _l("Something went wrong."))
        body = render_template("error.html", title=TITLES.get(status, error.name), message=message)
        return Response(body, status=status, mimetype="text/html")

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.error("unexpected %s", type(error).__name__, exc_info=error)
        body = render_template(
            "error.html",
            title=_l("Something went wrong"),
            message=_l("linkgate could not finish this request. Please try again in a moment."),
        )
        return Response(body, status=500, mimetype="text/html")
