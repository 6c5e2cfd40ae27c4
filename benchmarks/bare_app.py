"""The baseline for ``benchmarks/gate.py``: a bare Flask app that answers every GET with a constant string.

``gunicorn -c deploy/gunicorn.conf.py 'benchmarks.bare_app:app'`` (from the project root) serves it with
exactly linkgate's gunicorn settings, so the difference between the two is linkgate's own work.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)

BODY = "ok"


@app.get("/")
@app.get("/<path:_path>")
def constant(_path: str = "") -> str:
    return BODY
