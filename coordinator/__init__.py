"""The cloud coordinator: ingest, oracle, market, settlement, API and dashboard."""
