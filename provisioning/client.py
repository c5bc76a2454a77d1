"""The coordinator's API as the gateway calls it: stdlib HTTP (no extra
dependency on the gateway), JSON in and out, errors translated in one place."""

import json
import urllib.error
import urllib.request
from typing import Any, Protocol

from provisioning.errors import RefusedError, UnreachableError

__all__ = ["Transport", "UrllibTransport", "translate_error"]


class Transport(Protocol):
    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        """The decoded JSON response; raises RefusedError / UnreachableError."""
        ...


class UrllibTransport:
    def __init__(self, base_url: str, *, timeout_s: float = 15.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"coordinator URL {base_url!r} must start with http:// or https://")
        self._base = base_url.rstrip("/")
        self._timeout_s = timeout_s

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(  # noqa: S310 (scheme checked in __init__)
            self._base + path, data=data, method=method, headers=dict(headers or {})
        )
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self._timeout_s) as resp:  # noqa: S310
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise translate_error(exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise UnreachableError(f"coordinator {self._base}: {exc}") from exc


def translate_error(status: int, raw: bytes) -> RefusedError | UnreachableError:
    """An HTTP error response as the CLI reports it."""
    try:
        detail = json.loads(raw).get("detail")
    except (ValueError, AttributeError):
        detail = None
    if status >= 500 and not (isinstance(detail, dict) and "code" in detail):
        return UnreachableError(f"coordinator failed with HTTP {status}")
    if isinstance(detail, dict) and "code" in detail:
        return RefusedError(str(detail["code"]), str(detail.get("message", "")), status)
    if isinstance(detail, list):  # pydantic validation errors
        parts = [
            f"{'.'.join(str(p) for p in d.get('loc', ())[1:])}: {d.get('msg')}" for d in detail
        ]
        return RefusedError("invalid_request", "; ".join(parts), status)
    return RefusedError("http_" + str(status), str(detail or raw[:200]), status)
