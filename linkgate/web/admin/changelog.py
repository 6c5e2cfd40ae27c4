"""Placeholder: being written."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("changelog", __name__, url_prefix="/log")


@blueprint.get("/")
def index() -> str:
    return "being written"
