"""Alembic's environment for linkgate: always run on a connection that linkgate.store hands over.

:meth:`linkgate.store.Store.create_schema` opens the connection, takes the migration lock on it and
passes it in ``config.attributes["connection"]``; nothing here reads a URL or a file of its own.
"""

from __future__ import annotations

from alembic import context

from linkgate.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached by running the alembic command by hand
    raise SystemExit("linkgate's migrations run through `linkgate db upgrade`, which opens the database")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place: batch mode copies the table, as Alembic recommends.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
