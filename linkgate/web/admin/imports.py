"""Placeholder: being written."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("imports", __name__, url_prefix="/rules")


@blueprint.get("/import")
def index() -> str:
    return "being written"
