"""Alembic's environment: migrations run on the connection the store hands over
(see grouproom.store.migrate), on SQLite and PostgreSQL alike."""

from __future__ import annotations

from alembic import context

from grouproom.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through grouproom.store.migrate")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying
)
with context.begin_transaction():
    context.run_migrations()
