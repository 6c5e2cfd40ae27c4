"""The link builder: paste a destination, get the signed gate link and what a visitor will see.

Read-only for every role: a signed link grants nothing a visitor could not get unsigned except that a
partner is sent straight on, and the key never leaves the server.
"""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from linkgate.gateaddress import gate_address, gate_link
from linkgate.web.admin.rules import link_outcome, read_destination
from linkgate.web.app_runtime import get_runtime

blueprint = Blueprint("links", __name__, url_prefix="/links")


@blueprint.get("/")
def index() -> ResponseReturnValue:
    url, destination, errors = read_destination()
    outcome = link = None
    if destination is not None:
        runtime = get_runtime()
        outcome = link_outcome(destination)
        link = gate_link(gate_address(runtime.settings.public_url), destination.href, runtime.signer)
    return render_template(
        "admin/links.html", url=url, errors=errors, outcome=outcome, link=link
    ), 400 if errors else 200
