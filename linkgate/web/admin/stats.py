"""Placeholder: being written."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("stats", __name__, url_prefix="/stats")


@blueprint.get("/")
def index() -> str:
    return "being written"
