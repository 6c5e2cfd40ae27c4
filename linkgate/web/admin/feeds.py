"""Known-bad lists in the console, linked from the Rules page: the feeds, how each last update went and
when the next is due; admins add a feed (an http(s) address: a file on the server is for the command
line), update one now, or remove one. Viewers see the list only.

The work is :mod:`linkgate.feeds`' (the same checks, bounds and safe fetcher as ``linkgate feeds``);
every change goes to the change log through the store.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from linkgate.feeds import (
    FEED_ACTIONS,
    FORMATS,
    FeedLimits,
    UpdateResult,
    check_feed,
    feed_policy,
    next_update,
    update_feed,
)
from linkgate.store.feeds import MAX_FEEDS, FeedError
from linkgate.web.admin.auth import actor, admin_required
from linkgate.web.app_runtime import get_runtime

blueprint = Blueprint("feeds", __name__, url_prefix="/feeds")

FIELDS = ("name", "source", "format", "action")


@blueprint.get("/")
def index() -> str:
    return _page({"name": "", "source": "", "format": "hosts", "action": "block"}, {})


def _page(form: dict[str, str], errors: dict[str, str], confirm: str | None = None) -> str:
    runtime = get_runtime()
    hours = runtime.settings.feeds_refresh_hours
    rows = [(feed, next_update(feed, hours)) for feed in runtime.store.feeds.all()]
    return render_template(
        "admin/feeds.html",
        rows=rows,
        form=form,
        errors=errors,
        formats=FORMATS,
        actions=FEED_ACTIONS,
        confirm=confirm,
        max_feeds=MAX_FEEDS,
        refresh_hours=hours,
        limits=FeedLimits.from_settings(runtime.settings),
    )


def _update(name: str) -> UpdateResult:
    runtime = get_runtime()
    limits = FeedLimits.from_settings(runtime.settings)
    with runtime.make_fetcher(feed_policy(runtime.fetch_policy, limits)) as fetcher:
        result = update_feed(
            runtime.store, name, limits, fetcher, actor(), runtime.settings.instance_path / "feeds"
        )
    runtime.rules.refresh()  # this worker at once; the others within server.rules_refresh_seconds
    if result.error is None and result.feed is not None:
        flash(f"Updated the feed {name}: {result.feed.names or 0:,} names.", "success")
    else:
        flash(f"The feed {name} was not updated: {result.error} The list before it is kept.", "warning")
    return result


@blueprint.post("/add")
@admin_required
def add() -> ResponseReturnValue:
    form = {key: request.form.get(key, "").strip() for key in FIELDS}
    try:
        name, source = check_feed(form["name"], form["source"], form["format"], form["action"], files=False)
        get_runtime().store.feeds.add(name, source, form["format"], form["action"], actor())
    except FeedError as error:
        return _page(form, {"feed": str(error)}), 400
    flash(f"Added the feed {name}.", "success")
    _update(name)
    return redirect(url_for("admin.feeds.index"))


@blueprint.post("/<name>/update")
@admin_required
def update(name: str) -> ResponseReturnValue:
    if get_runtime().store.feeds.get(name) is None:
        abort(404)
    _update(name)
    return redirect(url_for("admin.feeds.index"))


@blueprint.route("/<name>/remove", methods=["GET", "POST"])
@admin_required
def remove(name: str) -> ResponseReturnValue:
    runtime = get_runtime()
    if runtime.store.feeds.get(name) is None:
        abort(404)
    if request.method == "GET":
        return _page({"name": "", "source": "", "format": "hosts", "action": "block"}, {}, confirm=name)
    try:
        runtime.store.feeds.remove(name, actor())
    except FeedError:  # removed by someone else since the page was read
        flash(f"The feed {name} was already removed.", "info")
        return redirect(url_for("admin.feeds.index"))
    runtime.rules.refresh()
    flash(f"Removed the feed {name}.", "success")
    return redirect(url_for("admin.feeds.index"))
