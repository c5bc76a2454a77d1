"""PostgreSQL (or SQLite, for the embedded demo) schema, migrations and sessions."""
