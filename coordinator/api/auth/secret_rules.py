"""Which secrets production accepts: one pure rule, `secret_problems`.

Each secret (the JWT key, the admin token, the coordinator's broker password
when it is set) must be

- set, and at least `MIN_SECRET_LEN` characters long;
- not a known placeholder (``changethis``, ``changeme``, ``secret`` ...), nor
  one of them repeated or with something appended;
- varied: not a short pattern repeated (``aaaa...``, ``abcabc...``) nor a run
  (``abcdef...``, ``0123...``), and worth at least `MIN_ESTIMATED_BITS` by a
  conservative estimate (the string's shortest repeating unit, times the
  Shannon entropy per character of the unit or of its steps between
  neighbouring characters, whichever is lower);

and no two secrets may be equal: the admin token must not be the JWT key.

Random secrets pass with a wide margin: 32 random hex digits are estimated at
95 bits or more (seen over 20,000 draws), `secrets.token_urlsafe(48)` at over 300.
Problems name the setting, never its value.
"""

import itertools
import math
from collections import Counter
from collections.abc import Mapping, Sequence

from coordinator.errors import ConfigError

__all__ = [
    "GENERATE_HINT",
    "MIN_ESTIMATED_BITS",
    "MIN_SECRET_LEN",
    "estimated_bits",
    "require_strong_secrets",
    "secret_problems",
]

MIN_SECRET_LEN = 32
MIN_ESTIMATED_BITS = 64.0
GENERATE_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"

# Compared with the secret lower-cased and stripped of everything but letters and
# digits: the whole of it, or its start.
_PLACEHOLDERS = (
    "changethis", "changeme", "replaceme", "placeholder", "yoursecret", "mysecret",
    "secret", "password", "passwd", "example", "default", "admin", "token", "test",
    "insecure", "xxxx", "fixme", "qwerty", "letmein", "123456",
)  # fmt: skip


def _period(text: str) -> int:
    """Length of the shortest unit `text` repeats (len(text) when it repeats none)."""
    prefix = [0] * len(text)  # Knuth-Morris-Pratt failure function
    for i in range(1, len(text)):
        k = prefix[i - 1]
        while k and text[i] != text[k]:
            k = prefix[k - 1]
        if text[i] == text[k]:
            k += 1
        prefix[i] = k
    return len(text) - prefix[-1] if text else 0


def _entropy(symbols: Sequence[object]) -> float:
    n = len(symbols)
    return -sum(c / n * math.log2(c / n) for c in Counter(symbols).values()) if n else 0.0


def _unit(text: str) -> str:
    """The repeating unit of `text` when it repeats one at least twice, else `text`."""
    period = _period(text)
    return text[:period] if period <= len(text) // 2 else text


def estimated_bits(secret: str) -> float:
    """A conservative estimate of the randomness in `secret`, in bits."""
    unit = _unit(secret)
    steps = [ord(b) - ord(a) for a, b in itertools.pairwise(unit)]
    return max(0.0, len(unit) * min(_entropy(unit), _entropy(steps)))


def _placeholder(secret: str) -> bool:
    plain = "".join(ch for ch in secret.lower() if ch.isalnum())
    unit = _unit(plain)
    return unit in _PLACEHOLDERS or any(plain.startswith(p) for p in _PLACEHOLDERS)


def _problem(name: str, secret: str | None) -> str | None:
    if not secret or not secret.strip():
        return f"{name} is not set"
    if _placeholder(secret):
        return f"{name} is a placeholder, not a secret"
    if len(secret) < MIN_SECRET_LEN:
        return f"{name} has {len(secret)} characters; at least {MIN_SECRET_LEN} are needed"
    if _period(secret) <= len(secret) // 2:
        return f"{name} repeats a pattern of {_period(secret)} characters"
    bits = estimated_bits(secret)
    if bits < MIN_ESTIMATED_BITS:
        return (
            f"{name} has too little variety (about {bits:.0f} bits; "
            f"at least {MIN_ESTIMATED_BITS:.0f} are needed)"
        )
    return None


def secret_problems(secrets: Mapping[str, str | None]) -> list[str]:
    """What is wrong with `secrets` (setting name -> value), in order; [] when each
    is strong and no two are equal."""
    problems = [p for name, value in secrets.items() if (p := _problem(name, value))]
    first_named: dict[str, str] = {}
    for name, value in secrets.items():
        if not value:
            continue
        if value in first_named:
            problems.append(
                f"{first_named[value]} and {name} are the same value; each secret must be "
                "its own (one leaked must not open the others)"
            )
        else:
            first_named[value] = name
    return problems


def require_strong_secrets(secrets: Mapping[str, str | None], environment: str) -> None:
    """Raise `ConfigError` naming every problem of `secrets` (and how to make a good
    secret) unless `environment` is "development"."""
    if environment == "development":
        return
    problems = secret_problems(secrets)
    if problems:
        raise ConfigError(
            f"refusing weak secrets with GTX_ENVIRONMENT={environment}: "
            + "; ".join(problems)
            + f". Generate each secret on its own, e.g. with: {GENERATE_HINT}"
        )
