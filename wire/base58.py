"""Base58 (Bitcoin alphabet), the text form of Solana addresses.

Portable to MicroPython: integers and bytes only.
"""

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {}
for _i in range(len(ALPHABET)):
    _INDEX[ALPHABET[_i]] = _i

__all__ = ["ALPHABET", "b58decode", "b58encode"]


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n > 0:
        n, rem = divmod(n, 58)
        out.append(ALPHABET[rem])
    # Leading zero bytes are kept as leading "1"s.
    for byte in data:
        if byte != 0:
            break
        out.append("1")
    out.reverse()
    return "".join(out)


def b58decode(text: str) -> bytes:
    """Decode base58 text; raises ValueError on a character outside the alphabet."""
    n = 0
    for ch in text:
        if ch not in _INDEX:
            raise ValueError("invalid base58 character")
        n = n * 58 + _INDEX[ch]
    # Byte length counted by shifting: MicroPython's int has no bit_length().
    size = 0
    rest = n
    while rest:
        rest >>= 8
        size += 1
    body = n.to_bytes(size, "big") if size else b""
    pad = 0
    for ch in text:
        if ch != "1":
            break
        pad += 1
    return b"\x00" * pad + body
