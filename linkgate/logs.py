"""What the servers write to their log, and the two forms it takes (``server.log_format``).

gunicorn's own messages pass through :class:`GunicornLogger` (gunicorn's ``logger_class``, set by
:func:`linkgate.serving.gunicorn_settings`), and linkgate's go to the same place in the same form. It must
never write a visitor's address, nor a request line or query string (a destination lives in ``?url=``):
gunicorn names the client in "Invalid request from ip=…" and the whole request line in its parse errors
and "Error handling request …", so those records are rewritten before any handler sees them.

``json`` writes one JSON object a line (``time``, ``level``, ``logger``, ``pid``, ``message``, and the
fields a record carries for a SIEM: ``event``, ``outcome``, ``account``), so a County SIEM can read sign-in
outcomes by account name without parsing sentences.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from gunicorn.glogging import Logger

# What a record may carry besides its message, passed on as fields of its JSON object.
FIELDS = ("event", "outcome", "account")
_INVALID_REQUEST = re.compile(r"^Invalid request from ip=\S+ (.*)$", re.S)


class NoVisitorDetails(logging.Filter):
    """Rewrites gunicorn's records that would name a visitor's address or a request's query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        invalid = _INVALID_REQUEST.match(message)
        if invalid:
            # "Invalid HTTP request line: 'GET /go?url=…'": the kind of error, never what was sent.
            record.msg = "Invalid request refused: %s"
            record.args = (invalid.group(1).split(":", 1)[0].strip(),)
        elif message.startswith("Error handling request") and record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(_path_only(arg) for arg in args)
        return True


def _path_only(value: Any) -> Any:
    """A request's URI without its query string or fragment (other values pass as they are)."""
    if not isinstance(value, str) or ("?" not in value and "#" not in value):
        return value
    return urlsplit(value).path or "/"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: when, how bad, where from, what, and a record's :data:`FIELDS`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class GunicornLogger(Logger):
    """gunicorn's logger with :class:`NoVisitorDetails` on its error log, and linkgate's own records
    (the ``linkgate`` logger, from INFO) written by the same handlers in the same form."""

    json = False

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if not any(isinstance(f, NoVisitorDetails) for f in self.error_log.filters):
            self.error_log.addFilter(NoVisitorDetails())
        handlers = [handler for handler in self.error_log.handlers if getattr(handler, "_gunicorn", False)]
        if self.json:
            for handler in handlers + [h for h in self.access_log.handlers if getattr(h, "_gunicorn", False)]:
                handler.setFormatter(JsonFormatter())
        # linkgate's records go to gunicorn's handlers too; a reload made new ones, so the old ones go.
        linkgate_log = logging.getLogger("linkgate")
        for old in [handler for handler in linkgate_log.handlers if getattr(handler, "_gunicorn", False)]:
            linkgate_log.removeHandler(old)
        for handler in handlers:
            linkgate_log.addHandler(handler)
        linkgate_log.setLevel(logging.INFO)
        linkgate_log.propagate = False


class JsonGunicornLogger(GunicornLogger):
    """:class:`GunicornLogger` writing one JSON object a line (``server.log_format = "json"``)."""

    json = True
