"""The coordinator's database: schema (`models`), Alembic migrations (`migrate`,
`migrations/`), engines (`session`) and every advisory lock id (`locks`), on
PostgreSQL (or SQLite, for the embedded demo).

Decides how things are stored, never what is stored: imports no other
coordinator package.
"""
