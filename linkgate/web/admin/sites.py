"""Placeholder: being written."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("sites", __name__, url_prefix="/sites")


@blueprint.get("/")
def index() -> str:
    return "being written"
