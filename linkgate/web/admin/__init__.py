"""The webmaster's console under ``/admin``: one blueprint per area, nested in one that guards them all.

The guards (in :mod:`.auth`) run before every view of every area: a signed-in account or a redirect to
the login page, then a CSRF check on every POST. Nothing here may run for ``/go`` or ``/api``: the
console's session cookie, its CSRF token and its hooks exist only under ``/admin``.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint

from linkgate.clock import county_time
from linkgate.web.admin import (
    accounts,
    api,
    audits,
    auth,
    changelog,
    dashboard,
    feeds,
    imports,
    links,
    rules,
    sites,
    stats,
)
from linkgate.web.app_runtime import get_runtime

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
auth.install_guards(blueprint)
blueprint.register_blueprint(auth.blueprint)
blueprint.register_blueprint(dashboard.blueprint)
blueprint.register_blueprint(rules.blueprint)
blueprint.register_blueprint(imports.blueprint)
blueprint.register_blueprint(feeds.blueprint)
blueprint.register_blueprint(sites.blueprint)
blueprint.register_blueprint(stats.blueprint)
blueprint.register_blueprint(changelog.blueprint)
blueprint.register_blueprint(audits.blueprint)
blueprint.register_blueprint(links.blueprint)
blueprint.register_blueprint(accounts.blueprint)
blueprint.register_blueprint(api.blueprint)


@blueprint.app_template_filter("county_time")
def county_time_filter(moment: datetime, seconds: bool = False) -> str:
    """A stored time as the County's clock shows it, with its zone (``2026-12-06 19:30 MST``)."""
    return county_time(moment, get_runtime().settings.timezone, seconds=seconds)


__all__ = ["blueprint"]
