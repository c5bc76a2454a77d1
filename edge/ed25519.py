"""Ed25519 signatures (RFC 8032) in pure Python, for gateways running MicroPython.

CPython gateways sign with `cryptography` (edge.signing); this module is for
ports without it. It needs only integers, bytes and `hashlib` where present:
MicroPython's hashlib has no SHA-512, so a pure SHA-512 (FIPS 180-4) is
included and used when the platform lacks one.

Not constant-time: Python integers leak timing. Acceptable on a gateway whose
only signer is itself, never for a multi-tenant service.

Verification is cofactorless ([S]B == R + [k]A, compared by encoding), as in
OpenSSL and so `cryptography`; non-canonical R encodings and S >= L are refused.
"""

import hashlib

__all__ = ["public_key", "sha512", "sha512_pure", "sign", "verify"]

SEED_LEN = 32
PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64

_MASK64 = (1 << 64) - 1


def _first_primes(count: int) -> list[int]:
    primes: list[int] = []
    n = 2
    while len(primes) < count:
        if all(n % q for q in primes):
            primes.append(n)
        n += 1
    return primes


def _iroot(value: int, k: int) -> int:
    """floor(value ** (1/k)) for a positive integer, by integer Newton steps."""
    bits = 0  # counted by shifting: MicroPython's int has no bit_length()
    while value >> bits:
        bits += 1
    x = 1 << ((bits + k - 1) // k)  # an upper bound
    while True:
        y = ((k - 1) * x + value // x ** (k - 1)) // k
        if y >= x:
            return x
        x = y


# FIPS 180-4 defines the constants as the first 64 fractional bits of the square
# (initial state) and cube (round constants) roots of the first primes; deriving
# them here spares 88 hand-typed 64-bit literals.
_PRIMES = _first_primes(80)
_H0 = tuple(_iroot(q << 128, 2) & _MASK64 for q in _PRIMES[:8])
_K = tuple(_iroot(q << 192, 3) & _MASK64 for q in _PRIMES)


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (64 - n))) & _MASK64


def _compress(state: list[int], block: bytes) -> None:
    w = [int.from_bytes(block[i : i + 8], "big") for i in range(0, 128, 8)]
    for t in range(16, 80):
        w15 = w[t - 15]
        w2 = w[t - 2]
        s0 = _rotr(w15, 1) ^ _rotr(w15, 8) ^ (w15 >> 7)
        s1 = _rotr(w2, 19) ^ _rotr(w2, 61) ^ (w2 >> 6)
        w.append((w[t - 16] + s0 + w[t - 7] + s1) & _MASK64)
    a, b, c, d, e, f, g, h = state
    for t in range(80):
        s1 = _rotr(e, 14) ^ _rotr(e, 18) ^ _rotr(e, 41)
        ch = (e & f) ^ (~e & g)
        t1 = h + s1 + ch + _K[t] + w[t]
        s0 = _rotr(a, 28) ^ _rotr(a, 34) ^ _rotr(a, 39)
        maj = (a & b) ^ (a & c) ^ (b & c)
        h = g
        g = f
        f = e
        e = (d + t1) & _MASK64
        d = c
        c = b
        b = a
        a = (t1 + s0 + maj) & _MASK64
    for i, v in enumerate((a, b, c, d, e, f, g, h)):
        state[i] = (state[i] + v) & _MASK64


def sha512_pure(data: bytes) -> bytes:
    """SHA-512 digest of `data`, in pure Python (FIPS 180-4)."""
    data = bytes(data)
    length_bits = 8 * len(data)
    # Pad: a 1 bit, zeros, then the 128-bit message length, to a 128-byte multiple.
    zeros = (111 - len(data)) % 128
    padded = data + b"\x80" + b"\x00" * zeros + length_bits.to_bytes(16, "big")
    state = list(_H0)
    for offset in range(0, len(padded), 128):
        _compress(state, padded[offset : offset + 128])
    return b"".join(v.to_bytes(8, "big") for v in state)


_NATIVE_SHA512 = hasattr(hashlib, "sha512")


def sha512(data: bytes) -> bytes:
    """SHA-512 digest: the platform's where it has one, the pure one otherwise."""
    if _NATIVE_SHA512:
        return hashlib.sha512(data).digest()
    return sha512_pure(data)


# Curve25519 in twisted Edwards form: -x^2 + y^2 = 1 + d x^2 y^2 over GF(p).
_P = (1 << 255) - 19
_L = (1 << 252) + 27742317777372353535851937790883648493  # the base point's order
_D = -121665 * pow(121666, _P - 2, _P) % _P
_D2 = 2 * _D % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)

# A point in extended coordinates (X, Y, Z, T): x = X/Z, y = Y/Z, x*y = T/Z.
_IDENTITY = (0, 1, 1, 0)


def _add(p1: tuple[int, int, int, int], p2: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    # RFC 8032 section 5.1.4; complete, so it also handles doubling and the identity.
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = t1 * _D2 * t2 % _P
    d = 2 * z1 * z2 % _P
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _double(p1: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    x1, y1, z1, _ = p1
    a = x1 * x1 % _P
    b = y1 * y1 % _P
    c = 2 * z1 * z1 % _P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1) % _P
    g = a - b
    f = c + g
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _negate(p1: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    x1, y1, z1, t1 = p1
    return ((-x1) % _P, y1, z1, (-t1) % _P)


def _window_table(point: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]]:
    table = [_IDENTITY, point]
    for _ in range(14):
        table.append(_add(table[-1], point))
    return table


def _multiply(scalar: int, table: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    # Fixed 4-bit windows, most significant first: 252 doublings, <= 64 additions.
    result = _IDENTITY
    for shift in range(252, -4, -4):
        result = _double(_double(_double(_double(result))))
        nibble = (scalar >> shift) & 15
        if nibble:
            result = _add(result, table[nibble])
    return result


def _multiply_two(
    s: int,
    table_s: list[tuple[int, int, int, int]],
    k: int,
    table_k: list[tuple[int, int, int, int]],
) -> tuple[int, int, int, int]:
    """[s]P + [k]Q sharing one chain of doublings (Straus)."""
    result = _IDENTITY
    for shift in range(252, -4, -4):
        result = _double(_double(_double(_double(result))))
        nibble = (s >> shift) & 15
        if nibble:
            result = _add(result, table_s[nibble])
        nibble = (k >> shift) & 15
        if nibble:
            result = _add(result, table_k[nibble])
    return result


def _encode(point: tuple[int, int, int, int]) -> bytes:
    x, y, z, _ = point
    z_inv = pow(z, _P - 2, _P)
    x = x * z_inv % _P
    y = y * z_inv % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decode(data: bytes) -> tuple[int, int, int, int] | None:
    """The point encoded in 32 bytes, or None if they encode none (RFC 8032 5.1.3)."""
    value = int.from_bytes(data, "little")
    sign = value >> 255
    y = value & ((1 << 255) - 1)
    if y >= _P:
        return None
    # x^2 = (y^2 - 1) / (d y^2 + 1); one exponentiation gives the candidate root.
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    vx2 = v * x * x % _P
    if vx2 != u:
        if vx2 != (-u) % _P:
            return None
        x = x * _SQRT_M1 % _P
    if x == 0 and sign:
        return None
    if (x & 1) != sign:
        x = _P - x
    return (x, y, 1, x * y % _P)


_BASE = _decode((4 * pow(5, _P - 2, _P) % _P).to_bytes(32, "little"))
assert _BASE is not None
_BASE_TABLE = _window_table(_BASE)


def _expand_seed(seed: bytes) -> tuple[int, bytes]:
    if len(seed) != SEED_LEN:
        raise ValueError("an Ed25519 seed is 32 bytes")
    digest = sha512(seed)
    scalar = int.from_bytes(digest[:32], "little")
    # Clamp (RFC 8032 5.1.5): clear the cofactor bits, set the top bit.
    scalar &= (1 << 254) - 8
    scalar |= 1 << 254
    return scalar, digest[32:]


def public_key(seed: bytes) -> bytes:
    """The 32-byte public key of a 32-byte private key (the RFC's seed)."""
    scalar, _ = _expand_seed(bytes(seed))
    return _encode(_multiply(scalar, _BASE_TABLE))


def sign(seed: bytes, message: bytes) -> bytes:
    """The 64-byte Ed25519 signature of `message` with the private key `seed`."""
    scalar, prefix = _expand_seed(bytes(seed))
    message = bytes(message)
    public = _encode(_multiply(scalar, _BASE_TABLE))
    r = int.from_bytes(sha512(prefix + message), "little") % _L
    r_bytes = _encode(_multiply(r, _BASE_TABLE))
    k = int.from_bytes(sha512(r_bytes + public + message), "little") % _L
    s = (r + k * scalar) % _L
    return r_bytes + s.to_bytes(32, "little")


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is `public_key`'s valid signature of `message`.

    Any malformed input (wrong length, a key that is no curve point, S >= L)
    is simply not a valid signature: False, never an exception.
    """
    public_key = bytes(public_key)
    signature = bytes(signature)
    if len(public_key) != PUBLIC_KEY_LEN or len(signature) != SIGNATURE_LEN:
        return False
    point_a = _decode(public_key)
    if point_a is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    r_bytes = signature[:32]
    k = int.from_bytes(sha512(r_bytes + public_key + bytes(message)), "little") % _L
    # R' = [S]B - [k]A; comparing encodings refuses any non-canonical R as well.
    check = _multiply_two(s, _BASE_TABLE, k, _window_table(_negate(point_a)))
    return _encode(check) == r_bytes
