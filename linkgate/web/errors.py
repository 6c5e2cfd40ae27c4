"""Error pages: plain words, the County's look, never a stack trace; JSON under the API, ``/admin/api/``
(for a request no API route takes, such as a POST or an unknown address: the API's own errors are its
blueprint's, :mod:`linkgate.web.admin.api`)."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
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


API_PATH = "/admin/api/"


def json_error(message: str, status: int) -> Response:
    """An API error: ``{"error": message}`` with ``status`` (405 says which method it allows)."""
    response = jsonify({"error": message})
    response.status_code = status
    if status == 405:
        response.headers["Allow"] = "GET, HEAD"
    return response


JSON_MESSAGES = {
    404: "There is no API address here: see docs/api.md.",
    405: "The API can only be read: use GET.",
}


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if request.path.startswith(API_PATH):
            return json_error(JSON_MESSAGES.get(status, error.name), status)
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
