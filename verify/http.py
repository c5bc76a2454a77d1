"""The verifier's one door to the network: GET and POST over HTTP(S), nothing else.

`Http` is the interface every check uses; `UrllibHttp` is the real one (the
standard library only, so the verifier needs no HTTP package). Tests pass a fake.
Errors become `Unavailable` here, in one place, naming the URL.
"""

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlsplit

from verify.errors import Unavailable

__all__ = ["Http", "UrllibHttp", "check_base_url"]

_MAX_BODY = 64 * 1024 * 1024  # a clearing of 100k orders publishes about 10 MB


class Http(Protocol):
    def get(self, url: str, headers: Mapping[str, str]) -> bytes:
        """The body of a 2xx answer to GET `url`; `Unavailable` otherwise."""
        ...

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        """The body of a 2xx answer to POST `body` to `url`; `Unavailable` otherwise."""
        ...


def check_base_url(url: str, what: str) -> str:
    """`url` without a trailing slash, if it is an http(s) URL; ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"{what} must be an http:// or https:// URL, not {url!r}")
    return url.rstrip("/")


def _reason(body: bytes) -> str:
    """What an error answer says: the API's `detail`, a JSON-RPC `error`, or its text."""
    try:
        doc = json.loads(body)
    except ValueError:
        return body[:200].decode(errors="replace")
    if isinstance(doc, dict):
        detail = doc.get("detail", doc.get("error"))
        if isinstance(detail, dict):
            code, message = detail.get("code"), detail.get("message")
            return f"{code}: {message}" if message is not None else str(code)
        if detail is not None:
            return str(detail)
    return body[:200].decode(errors="replace")


class UrllibHttp:
    def __init__(self, *, timeout_s: float = 30.0) -> None:
        self._timeout_s = timeout_s

    def get(self, url: str, headers: Mapping[str, str]) -> bytes:
        request = urllib.request.Request(url, headers=dict(headers), method="GET")  # noqa: S310
        return self._send(request)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        # The scheme is checked in _send before anything is opened.
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
        return self._send(request)

    def _send(self, request: urllib.request.Request) -> bytes:
        url = request.full_url
        check_base_url(url, "a request")  # never file:// or other schemes
        try:
            # The scheme is checked above: http or https only.
            with urllib.request.urlopen(request, timeout=self._timeout_s) as answer:  # noqa: S310
                body: bytes = answer.read(_MAX_BODY + 1)
        except urllib.error.HTTPError as exc:
            reason = _reason(exc.read())
            raise Unavailable(f"{url}: HTTP {exc.code}: {reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise Unavailable(f"{url}: {getattr(exc, 'reason', exc)}") from exc
        if len(body) > _MAX_BODY:
            raise Unavailable(f"{url}: answer larger than {_MAX_BODY} bytes")
        return body
