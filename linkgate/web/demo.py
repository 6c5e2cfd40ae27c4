"""The demo County page (demo mode only): off-site links of every kind, routed through the gate both ways.

The first list carries server-signed gate links, as ``linkgate sign`` or ``linkgate rewrite`` make them;
the second carries the same destinations as plain links, which the drop-in script (``static/linkgate.js``,
loaded from the gate as a County page would load it) routes when they are followed. Never served outside
demo mode.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l

from linkgate.gateaddress import gate_address, gate_link
from linkgate.urls import parse_destination
from linkgate.web.app_runtime import get_runtime

blueprint = Blueprint("demo", __name__)

DEMO_LINKS = (
    ("https://www.missoulacounty.us/government/public-safety", _l("Public safety (a County page)")),
    ("https://www.visitmontana.com/", _l("Visit Montana (a trusted partner)")),
    ("https://www.mt.gov/", _l("The State of Montana (government)")),
    ("https://www.umt.edu/", _l("University of Montana (education)")),
    ("https://www.missoulian.com/", _l("The Missoulian newspaper (external)")),
    ("http://example.com/", _l("An insecure (http) website")),
    ("https://missoulacounty-payments.com/", _l("A site pretending to be the County")),
    ("https://malware-example.com/", _l("A blocked website")),
)
DEMO_RULES = (("visitmontana.com", "allow"), ("malware-example.com", "block"))
# An off-site link the page asks the drop-in script to leave alone (data-linkgate="skip").
SKIP_LINK = ("https://www.example.org/", _l("An off-site link marked to go straight there, without the gate"))


@blueprint.get("/")
@blueprint.get("/demo")
def page() -> str:
    # The gate as this page was reached (the demo runs wherever it is started; its path is the mount
    # point, from server.public_url): the signed links and the drop-in script's data-gate.
    gate = gate_address(request.root_url)
    signer = get_runtime().signer
    links = [
        (gate_link(gate, parse_destination(href).href, signer), href, label) for href, label in DEMO_LINKS
    ]
    return render_template(
        "demo.html", links=links, plain_links=DEMO_LINKS, skip_link=SKIP_LINK, gate_root=gate.root
    )
