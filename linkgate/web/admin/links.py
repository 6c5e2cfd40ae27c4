"""The link builder: paste a destination, get the signed gate link and what a visitor will see.

Every role may make gate links, viewers too (docs/webmaster.md says why): a signature says only that the
link is on a County page, which anyone who edits a County page can say without one (the Referer), and it
changes nothing the rules decide. Blocked sites stay blocked, deceptive addresses always get the notice,
and only partners, which administrators choose, are sent straight on. The key never leaves the server.
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
    outcome = link = category = None
    if destination is not None:
        runtime = get_runtime()
        outcome = link_outcome(destination)
        # The gate's own judgement of a link on a County page: "blocked" and "county" get a warning.
        category = runtime.classifier.classify(destination, trusted=True).category
        link = gate_link(gate_address(runtime.settings.public_url), destination.href, runtime.signer)
    return render_template(
        "admin/links.html", url=url, errors=errors, outcome=outcome, link=link, category=category
    ), 400 if errors else 200
