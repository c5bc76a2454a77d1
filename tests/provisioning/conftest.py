"""A provisioning Transport backed by the API app in-process (no sockets)."""

from typing import Any

from fastapi.testclient import TestClient

from provisioning.client import translate_error


class AppTransport:
    def __init__(self, client: TestClient) -> None:
        self._client = client

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        r = self._client.request(method, path, json=body, headers=headers)
        if r.status_code >= 400:
            raise translate_error(r.status_code, r.content)
        return r.json()
