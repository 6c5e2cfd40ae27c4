"""The demo County page (demo mode only): off-site links of every kind, all routed through the gate."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, render_template
from flask_babel import lazy_gettext as _l

from linkgate.urls import parse_destination
from linkgate.web.runtime import get_runtime

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


def gate_link(href: str) -> str:
    runtime = get_runtime()
    destination = parse_destination(href)
    return f"/go?url={quote(destination.href, safe='')}&sig={runtime.signer.sign(destination.href)}"


@blueprint.get("/")
@blueprint.get("/demo")
def page() -> str:
    links = [(gate_link(href), href, label) for href, label in DEMO_LINKS]
    return render_template("demo.html", links=links)
