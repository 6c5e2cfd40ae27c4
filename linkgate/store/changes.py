"""The change log: who changed what and when. Every repository's writes to rules, accounts and sites
record themselves here, in their own transaction; an import of rules is one entry holding every rule it
changed. An entry about rules or a site's override can be reverted: the inverse is applied only while
what the entry changed is still as the entry left it, and the revert is an entry of its own. Nothing
ever edits or deletes an entry.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linkgate.classify import make_rule
from linkgate.errors import RevertRefused, RuleError
from linkgate.store.engine import Database, holds
from linkgate.store.records import LogEntry, LogPage, RuleImportResult, as_utc, now
from linkgate.store.schema import change_log, meta, rules, sites

# The actions an entry of rules may have; each one's before and after are a rule, or {"rules": [...]}.
RULE_ACTIONS = ("rule.add", "rule.update", "rule.remove", "rule.import", "rule.revert")
# The actions about a site's override; before and after hold override_url and override_none.
SITE_ACTIONS = ("site.override", "site.remove-override", "site.clear", "site.revert")
# The key of a revert's ``after`` that names the entry it reverted.
REVERTS = "reverts"

RuleState = dict[str, Any] | None


class ChangeLog:
    """The change log's repository."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, conn: Connection, actor: str, action: str, target: str, before: Any, after: Any) -> int:
        """Add an entry in the transaction of ``conn``; ``before`` and ``after`` as JSON (None: none)."""
        inserted = conn.execute(
            sa.insert(change_log).values(
                at=now(),
                actor=actor,
                action=action,
                target=target,
                before=None if before is None else json.dumps(before, sort_keys=True),
                after=None if after is None else json.dumps(after, sort_keys=True),
            )
        ).inserted_primary_key
        return int(inserted[0]) if inserted else 0

    def record_import(self, conn: Connection, actor: str, result: RuleImportResult) -> None:
        """One entry for a whole import: ``before`` the rules it changed or removed as they were, ``after``
        the rules it added or changed as they are now, each as ``{"rules": [...]}``."""
        before = [old.as_json() for old, _new in result.updated] + [old.as_json() for old in result.removed]
        after = [new.as_json() for new in result.added] + [new.as_json() for _old, new in result.updated]
        target = (
            f"rules file: {len(result.added)} added, {len(result.updated)} changed, "
            f"{len(result.removed)} removed"
        )
        self.record(conn, actor, "rule.import", target, {"rules": before}, {"rules": after})

    def get(self, entry_id: int) -> LogEntry | None:
        with self._db.connect() as conn:
            row = conn.execute(sa.select(change_log).where(change_log.c.id == entry_id)).first()
        return None if row is None else _log_from_row(row)

    def reverted_by(self, entry_id: int) -> LogEntry | None:
        """The revert of entry ``entry_id``, if there is one (the newest)."""
        written = [f'%"{REVERTS}": {entry_id},%', f'%"{REVERTS}": {entry_id}}}%']
        with self._db.connect() as conn:
            row = conn.execute(
                sa.select(change_log)
                .where(
                    change_log.c.action.in_(("rule.revert", "site.revert")),
                    sa.or_(*(change_log.c.after.like(pattern) for pattern in written)),
                )
                .order_by(change_log.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else _log_from_row(row)

    def revert(self, entry_id: int, actor: str, county_domains: tuple[str, ...] = ()) -> LogEntry:
        """Undo entry ``entry_id`` in one transaction and log it; the new entry.

        :class:`RevertRefused` when the entry cannot be reverted, when a rule it would put back is one
        that a new rule's checks refuse (:func:`linkgate.classify.make_rule`, with the County's domains:
        a revert is not a way around them), or when anything it changed has changed again since (then
        nothing is changed). Rules are compared and set on the rules version first, so that no other
        change to the rules can come between the check and the write.
        """
        entry = self.get(entry_id)
        if entry is None:
            raise RevertRefused(f"There is no change number {entry_id}.")
        refusal = revert_refusal(entry) or restored_rule_refusal(entry, county_domains)
        if refusal is not None:
            raise RevertRefused(refusal)
        with self._db.begin() as conn:
            if entry.action in RULE_ACTIONS:
                new_id = self._revert_rules(conn, entry, actor)
            else:
                new_id = self._revert_site(conn, entry, actor)
            row = conn.execute(sa.select(change_log).where(change_log.c.id == new_id)).one()
        return _log_from_row(row)

    def _revert_rules(self, conn: Connection, entry: LogEntry, actor: str) -> int:
        """Put the rules of ``entry`` back as they were before it; the revert's entry id."""
        version = conn.execute(sa.select(meta.c.value).where(meta.c.key == "rules_version")).scalar()
        moved = conn.execute(
            sa.update(meta)
            .where(meta.c.key == "rules_version", meta.c.value == version)
            .values(value=str(int(version or 0) + 1))
        )
        if moved.rowcount != 1:
            raise RevertRefused("Someone changed the rules at the same moment; try the revert again.")
        changes = rule_changes(entry)
        current = {
            (row.name, bool(row.exact)): row
            for row in conn.execute(
                sa.select(rules).where(
                    sa.or_(
                        *(
                            sa.and_(rules.c.name == state["name"], rules.c.exact == bool(state["exact"]))
                            for pair in changes
                            for state in pair
                            if state is not None
                        )
                    )
                )
            ).all()
        }
        for before, after in changes:
            if after is not None:
                row = current.get(_rule_key(after))
                if row is None:
                    raise RevertRefused(
                        f"The rule {after['pattern']} was removed after this change, so it cannot be "
                        "reverted. Nothing was changed."
                    )
                if _rule_json(row) != _comparable(after):
                    raise RevertRefused(
                        f"The rule {after['pattern']} was changed after this change (it is now a "
                        f"{row.kind} rule{_note_text(row.note)}), so it cannot be reverted. Nothing was "
                        "changed."
                    )
            moves = after is None or _rule_key(before or after) != _rule_key(after)
            if before is not None and moves and _rule_key(before) in current:
                raise RevertRefused(
                    f"There is a rule for {before['pattern']} again since this change, so it cannot be "
                    "reverted. Nothing was changed."
                )
        stamp = now()
        for before, after in changes:
            if after is not None and before is not None:
                conn.execute(
                    sa.update(rules)
                    .where(rules.c.id == current[_rule_key(after)].id)
                    .values(**_rule_values(before), updated_at=stamp)
                )
            elif after is not None:
                conn.execute(sa.delete(rules).where(rules.c.id == current[_rule_key(after)].id))
            elif before is not None:
                conn.execute(
                    sa.insert(rules).values(
                        **_rule_values(before), created_by=actor, created_at=stamp, updated_at=stamp
                    )
                )
        undone = [after for _before, after in changes if after is not None]
        restored = [before for before, _after in changes if before is not None]
        patterns = sorted({str(state["pattern"]) for state in undone + restored})
        target = patterns[0] if len(patterns) == 1 else f"{len(patterns)} rules"
        return self.record(
            conn, actor, "rule.revert", target, {"rules": undone}, {"rules": restored, REVERTS: entry.id}
        )

    def _revert_site(self, conn: Connection, entry: LogEntry, actor: str) -> int:
        """Put the override of ``entry``'s site back as it was before it; the revert's entry id."""
        host = entry.target
        wanted = _override(entry.before)
        expected = _override(entry.after)
        conn.execute(
            self._db.insert(sites)
            .values(host=host, status="unknown", override_none=False, used_on=now().date())
            .on_conflict_do_nothing(index_elements=["host"])
        )
        # Compare and set in one statement: nobody may change the override between the check and the write.
        changed = conn.execute(
            sa.update(sites)
            .where(
                sites.c.host == host,
                sites.c.override_url.is_(None)
                if expected["override_url"] is None
                else sites.c.override_url == expected["override_url"],
                sites.c.override_none == expected["override_none"],
            )
            .values(**wanted)
        )
        if changed.rowcount != 1:
            now_set = conn.execute(
                sa.select(sites.c.override_url, sites.c.override_none).where(sites.c.host == host)
            ).one()
            raise RevertRefused(
                f"The privacy link of {host} was changed after this change (now: "
                f"{_override_text(now_set.override_url, bool(now_set.override_none))}), so it cannot be "
                "reverted. Nothing was changed."
            )
        return self.record(conn, actor, "site.revert", host, expected, {**wanted, REVERTS: entry.id})

    def page(
        self,
        *,
        actor: str = "",
        action: str = "",
        target: str = "",
        start: datetime | None = None,
        end: datetime | None = None,
        offset: int = 0,
        limit: int = 50,
        sort: str = "when",
        descending: bool = True,
    ) -> LogPage:
        """Change-log entries, newest first (or by one of :data:`LOG_SORTS`, then newest first). ``actor``
        and ``target`` match anywhere (any case);
        ``action`` is a prefix (``rule`` for every rule change, ``rule.add`` for additions);
        ``start`` and ``end`` bound the time (start inclusive, end exclusive)."""
        conditions = []
        if actor:
            conditions.append(holds(change_log.c.actor, actor))
        if target:
            conditions.append(holds(change_log.c.target, target))
        if action:
            conditions.append(change_log.c.action.startswith(action, autoescape=True))
        if start is not None:
            conditions.append(change_log.c.at >= start)
        if end is not None:
            conditions.append(change_log.c.at < end)
        with self._db.connect() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(change_log).where(*conditions)
            ).scalar()
            rows = conn.execute(
                sa.select(change_log)
                .where(*conditions)
                .order_by(*_log_order(sort, descending))
                .offset(offset)
                .limit(limit)
            ).all()
        return LogPage(int(total or 0), [_log_from_row(row) for row in rows])


LOG_SORTS = ("when", "who", "target")  # each either way


def _log_order(sort: str, descending: bool) -> tuple[Any, ...]:
    """The entries' order: by time (the id, which follows it), who or what changed, then newest first."""
    column = {"when": change_log.c.id, "who": change_log.c.actor, "target": change_log.c.target}[sort]
    return (column.desc() if descending else column.asc(), change_log.c.id.desc())


def _log_from_row(row: Any) -> LogEntry:
    return LogEntry(
        id=row.id,
        at=as_utc(row.at) or now(),
        actor=row.actor,
        action=row.action,
        target=row.target,
        before=None if row.before is None else json.loads(row.before),
        after=None if row.after is None else json.loads(row.after),
    )


def rule_changes(entry: LogEntry) -> list[tuple[RuleState, RuleState]]:
    """(before, after) of each rule an entry of rules changed: None for a rule that was not there before
    (added) or is not there after (removed). An edit that renamed a rule is one pair; in an entry of
    several rules, the rules are paired by name and scope."""
    if entry.action not in RULE_ACTIONS:
        return []
    if entry.action in ("rule.add", "rule.update", "rule.remove"):
        return [(entry.before, entry.after)]
    befores = {_rule_key(rule): rule for rule in (entry.before or {}).get("rules", [])}
    afters = {_rule_key(rule): rule for rule in (entry.after or {}).get("rules", [])}
    return [(befores.get(key), afters.get(key)) for key in sorted(befores.keys() | afters.keys())]


def revert_refusal(entry: LogEntry) -> str | None:
    """Why ``entry`` can never be reverted, whatever has happened since; None when it may be."""
    if entry.action in RULE_ACTIONS:
        return None if rule_changes(entry) else "This change changed no rule: there is nothing to revert."
    if entry.action in SITE_ACTIONS:
        if entry.before is None or _override(entry.before) == _override(entry.after):
            return "This change set no privacy link by hand: there is nothing to revert."
        return None
    return "Only changes to rules and to sites' privacy links can be reverted."


def restored_rule_refusal(entry: LogEntry, county_domains: tuple[str, ...]) -> str | None:
    """Why reverting ``entry`` may not put back one of its rules as it was: the checks every new rule
    passes refuse it now (a block rule on a County address kept from before those checks, removed since);
    None when every rule it would put back passes them."""
    for before, _after in rule_changes(entry):
        if before is None:
            continue
        try:
            make_rule(
                str(before["name"]),
                str(before["kind"]),
                exact=bool(before["exact"]),
                action=before.get("action") or None,
                note=before.get("note") or "",
                county_domains=county_domains,
            )
        except RuleError as error:
            return (
                f"Reverting this change would put back the rule {before['pattern']}, which linkgate now "
                f"refuses: {error} Nothing was changed."
            )
    return None


def _rule_key(rule: dict[str, Any]) -> tuple[str, bool]:
    return str(rule["name"]), bool(rule["exact"])


def _rule_values(rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": rule["name"],
        "exact": bool(rule["exact"]),
        "kind": rule["kind"],
        "action": rule.get("action"),
        "note": rule.get("note") or "",
    }


def _comparable(rule: dict[str, Any]) -> dict[str, Any]:
    values = _rule_values(rule)
    values["action"] = values["action"] or None
    return values


def _rule_json(row: Any) -> dict[str, Any]:
    return _comparable(
        {"name": row.name, "exact": row.exact, "kind": row.kind, "action": row.action, "note": row.note}
    )


def _note_text(note: str | None) -> str:
    return f', note "{note}"' if note else ""


def _override(values: dict[str, Any] | None) -> dict[str, Any]:
    """A site's override in an entry; no entry (a site forgotten) is no override."""
    values = values or {}
    return {"override_url": values.get("override_url"), "override_none": bool(values.get("override_none"))}


def _override_text(url: str | None, none: bool) -> str:
    if url:
        return f"the privacy link {url}, set by hand"
    if none:
        return "no privacy policy, set by hand"
    return "no privacy link set by hand"
