"""The coordinator's public API, as the verifier reads it: a reading's proof, an
epoch's clearing and its publication, the deployment's public keys. Nothing here is
trusted: every answer is evidence for the checks to test."""

import json
from typing import Any
from urllib.parse import quote

from verify.errors import Unavailable
from verify.http import Http

__all__ = ["PublicApi"]


class PublicApi:
    def __init__(self, base_url: str, http: Http, *, token: str | None = None) -> None:
        self._base = base_url
        self._http = http
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def _get(self, path: str) -> bytes:
        return self._http.get(self._base + path, self._headers)

    def _json(self, path: str) -> dict[str, Any]:
        body = self._get(path)
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise Unavailable(f"{self._base}{path}: not JSON") from exc
        if not isinstance(doc, dict):
            raise Unavailable(f"{self._base}{path}: not a JSON object")
        return doc

    def proof(self, gateway_id: str, seq: int) -> dict[str, Any]:
        """GET /api/v1/proofs/{gateway_id}/{seq}: the reading's Merkle proof."""
        return self._json(f"/api/v1/proofs/{quote(gateway_id, safe='')}/{seq}")

    def certificate(self, leaf: str) -> dict[str, Any]:
        """GET /api/v1/retirement/certificates/{leaf}: a certificate's proof document."""
        return self._json(f"/api/v1/retirement/certificates/{quote(leaf, safe='')}")

    def clearing(self, epoch: int) -> dict[str, Any]:
        """GET /api/v1/clearings/{epoch}: hashes, figures and the attestation's signature."""
        return self._json(f"/api/v1/clearings/{epoch}")

    def publication(self, epoch: int) -> bytes:
        """GET /api/v1/clearings/{epoch}/publication: the clearing publication's bytes."""
        return self._get(f"/api/v1/clearings/{epoch}/publication")

    def deployment(self) -> dict[str, Any]:
        """GET /api/v1/deployment: the deployment's public addresses."""
        return self._json("/api/v1/deployment")
