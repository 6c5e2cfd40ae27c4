"""Placeholder: being written."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("links", __name__, url_prefix="/links")


@blueprint.get("/")
def index() -> str:
    return "being written"
