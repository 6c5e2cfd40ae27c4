"""The database schema's history, as Alembic migrations (``linkgate db upgrade`` applies them).

``HEAD`` names the newest revision: :meth:`linkgate.store.Store.create_schema` compares the database's
``alembic_version`` with it and only loads Alembic when they differ, so a server or a command starting
against an up-to-date database pays one small query. A test checks that ``HEAD`` is Alembic's own head.
A new migration goes in ``versions/`` (``alembic -c linkgate/migrations/alembic.ini revision -m ...``) and
moves ``HEAD``.
"""

from __future__ import annotations

HEAD = "0004"
