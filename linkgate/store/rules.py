"""The rules (allow, warn, block) and the version that tells every worker when to reload them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linkgate.classify import Rule, owned_name
from linkgate.errors import DuplicateRule, RuleError
from linkgate.store.changes import ChangeLog
from linkgate.store.engine import Database, holds
from linkgate.store.records import RuleImportResult, RulePage, RuleRecord, as_utc, now
from linkgate.store.schema import meta, rules

RULE_SORTS = ("name", "kind", "action", "updated")  # each either way: ascending, or with descending


class Rules:
    """The rules' repository; every change is logged and moves the rules version on."""

    def __init__(self, db: Database, changes: ChangeLog) -> None:
        self._db = db
        self._changes = changes

    def version(self) -> int:
        with self._db.connect() as conn:
            value = conn.execute(sa.select(meta.c.value).where(meta.c.key == "rules_version")).scalar()
        return int(value or 0)

    def load(self) -> tuple[int, list[Rule]]:
        with self._db.connect() as conn:
            version = conn.execute(sa.select(meta.c.value).where(meta.c.key == "rules_version")).scalar()
            rows = conn.execute(sa.select(rules).order_by(rules.c.name, rules.c.exact)).all()
        return int(version or 0), [_rule_from_row(row) for row in rows]

    def add(self, rule: Rule, actor: str) -> Rule:
        stamp = now()
        with self._db.begin() as conn:
            existing = conn.execute(
                sa.select(rules).where(rules.c.name == rule.name, rules.c.exact == rule.exact)
            ).first()
            if existing is not None:
                raise DuplicateRule(_rule_from_row(existing))
            saved = self._insert_rule(conn, rule, actor, stamp)
            self._bump_version(conn)
        return saved

    def remove(self, name: str, exact: bool, actor: str) -> Rule:
        # The name as rules keep it, not a new rule's checks: a rule kept before a check existed (a County
        # host, a name on no public suffix) must still be removable.
        probe = Rule(owned_name(name, "a rule"), exact, "allow")
        with self._db.begin() as conn:
            row = conn.execute(
                sa.select(rules).where(rules.c.name == probe.name, rules.c.exact == exact)
            ).first()
            if row is None:
                raise RuleError(f"There is no rule for {probe.pattern}.")
            old = _rule_from_row(row)
            conn.execute(sa.delete(rules).where(rules.c.id == row.id))
            self._changes.record(conn, actor, "rule.remove", old.pattern, old.as_json(), None)
            self._bump_version(conn)
        return old

    def get(self, rule_id: int) -> RuleRecord | None:
        with self._db.connect() as conn:
            row = conn.execute(sa.select(rules).where(rules.c.id == rule_id)).first()
        return None if row is None else _record_from_row(row)

    def page(
        self,
        search: str = "",
        kind: str | None = None,
        sort: str = "name",
        offset: int = 0,
        limit: int = 50,
        *,
        descending: bool = False,
    ) -> RulePage:
        """Rules whose name or note holds ``search`` (any case), of one ``kind`` or all, one page, in the
        order of one of :data:`RULE_SORTS` (then by name)."""
        conditions = []
        if search:
            conditions.append(sa.or_(holds(rules.c.name, search), holds(rules.c.note, search)))
        if kind is not None:
            conditions.append(rules.c.kind == kind)
        column = {
            "name": rules.c.name,
            "kind": rules.c.kind,
            "action": sa.func.coalesce(rules.c.action, ""),
            "updated": rules.c.updated_at,
        }[sort]
        order = (column.desc() if descending else column.asc(), rules.c.name, rules.c.exact)
        with self._db.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(rules).where(*conditions)).scalar()
            rows = conn.execute(
                sa.select(rules).where(*conditions).order_by(*order).offset(offset).limit(limit)
            ).all()
        return RulePage(int(total or 0), [_record_from_row(row) for row in rows])

    def update(self, rule_id: int, rule: Rule, actor: str) -> Rule:
        """Replace rule ``rule_id`` with ``rule``; refuse a duplicate of another rule."""
        with self._db.begin() as conn:
            row = conn.execute(sa.select(rules).where(rules.c.id == rule_id)).first()
            if row is None:
                raise RuleError("That rule no longer exists; it may have been removed by someone else.")
            other = conn.execute(
                sa.select(rules).where(
                    rules.c.name == rule.name, rules.c.exact == rule.exact, rules.c.id != rule_id
                )
            ).first()
            if other is not None:
                raise DuplicateRule(_rule_from_row(other))
            old = _rule_from_row(row)
            saved = Rule(rule.name, rule.exact, rule.kind, rule.action, rule.note, rule_id)
            if old.as_json() == saved.as_json():
                return saved
            conn.execute(
                sa.update(rules)
                .where(rules.c.id == rule_id)
                .values(
                    name=saved.name,
                    exact=saved.exact,
                    kind=saved.kind,
                    action=saved.action,
                    note=saved.note,
                    updated_at=now(),
                )
            )
            self._changes.record(conn, actor, "rule.update", saved.pattern, old.as_json(), saved.as_json())
            self._bump_version(conn)
        return saved

    def apply_import(
        self,
        incoming: list[Rule],
        actor: str,
        *,
        replace: bool = False,
        expected_version: int | None = None,
    ) -> RuleImportResult:
        """Add or update every rule of ``incoming`` (and with ``replace`` remove every other rule) in one
        transaction: all of it or none of it, one change-log entry for the whole import.

        Rules are matched on (name, exact). ``expected_version`` refuses the batch when the rules have
        changed since it was previewed (someone else saved a rule in between).
        """
        seen: set[tuple[str, bool]] = set()
        for rule in incoming:
            key = (rule.name, rule.exact)
            if key in seen:
                raise RuleError(f"The import names {rule.pattern} more than once.")
            seen.add(key)
        added: list[Rule] = []
        updated: list[tuple[Rule, Rule]] = []
        removed: list[Rule] = []
        stamp = now()
        with self._db.begin() as conn:
            if expected_version is not None:
                # Compare-and-set on the version, first: of two imports previewed against the same
                # version only one can move it on, on SQLite and PostgreSQL alike (the row stays locked
                # until this transaction ends).
                moved = conn.execute(
                    sa.update(meta)
                    .where(meta.c.key == "rules_version", meta.c.value == str(expected_version))
                    .values(value=str(expected_version + 1))
                )
                if moved.rowcount != 1:
                    raise RuleError(
                        "The rules changed after this import was previewed; upload the file again to see "
                        "what it would change now."
                    )
            existing = {(row.name, bool(row.exact)): row for row in conn.execute(sa.select(rules)).all()}
            for rule in incoming:
                row = existing.get((rule.name, rule.exact))
                if row is None:
                    saved = self._insert_rule(conn, rule, actor, stamp, log=False)
                    added.append(saved)
                    continue
                old = _rule_from_row(row)
                saved = Rule(rule.name, rule.exact, rule.kind, rule.action, rule.note, row.id)
                if old.as_json() == saved.as_json():
                    continue
                conn.execute(
                    sa.update(rules)
                    .where(rules.c.id == row.id)
                    .values(kind=saved.kind, action=saved.action, note=saved.note, updated_at=stamp)
                )
                updated.append((old, saved))
            if replace:
                for key, row in sorted(existing.items()):
                    if key in seen:
                        continue
                    old = _rule_from_row(row)
                    conn.execute(sa.delete(rules).where(rules.c.id == row.id))
                    removed.append(old)
            result = RuleImportResult(added, updated, removed)
            if added or updated or removed:
                self._changes.record_import(conn, actor, result)
            if expected_version is None and (added or updated or removed):
                self._bump_version(conn)
        return result

    def _insert_rule(
        self, conn: Connection, rule: Rule, actor: str, stamp: datetime, *, log: bool = True
    ) -> Rule:
        """Insert a new rule and log it (an import logs itself whole); the rule as saved (with its id)."""
        inserted = conn.execute(
            sa.insert(rules).values(
                name=rule.name,
                exact=rule.exact,
                kind=rule.kind,
                action=rule.action,
                note=rule.note,
                created_by=actor,
                created_at=stamp,
                updated_at=stamp,
            )
        ).inserted_primary_key
        saved = Rule(
            rule.name, rule.exact, rule.kind, rule.action, rule.note, int(inserted[0]) if inserted else None
        )
        if log:
            self._changes.record(conn, actor, "rule.add", saved.pattern, None, saved.as_json())
        return saved

    def _bump_version(self, conn: Connection) -> None:
        conn.execute(
            sa.update(meta)
            .where(meta.c.key == "rules_version")
            .values(value=sa.cast(sa.cast(meta.c.value, sa.Integer) + 1, sa.Text))
        )


def _rule_from_row(row: Any) -> Rule:
    return Rule(
        name=row.name, exact=bool(row.exact), kind=row.kind, action=row.action, note=row.note or "", id=row.id
    )


def _record_from_row(row: Any) -> RuleRecord:
    return RuleRecord(
        rule=_rule_from_row(row),
        created_by=row.created_by or "",
        created_at=as_utc(row.created_at) or now(),
        updated_at=as_utc(row.updated_at) or now(),
    )
