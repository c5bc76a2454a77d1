"""The coordinator's REST API (FastAPI): `create_app(settings, engine)`."""
