"""Storage of therapy groups and their records: SQLAlchemy 2 (async) over an SQLite
file by default or PostgreSQL by URL, with Alembic migrations."""
