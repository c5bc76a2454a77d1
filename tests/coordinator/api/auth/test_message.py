"""Sign-in messages: rendering, strict parsing, and the checks that refuse them."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.api.auth import errors
from coordinator.api.auth.errors import AuthError
from coordinator.api.auth.message import (
    check_address,
    check_challenge,
    new_challenge,
    parse_challenge,
    render_challenge,
    signature_valid,
)
from provisioning.keys import Signer

WALLET = Signer.generate()
NOW = 1_790_000_000


@given(
    domain=st.from_regex(r"[a-z0-9.-]{1,40}(:[0-9]{1,5})?", fullmatch=True),
    now=st.integers(0, 4_000_000_000),
    ttl=st.integers(10, 3600),
    nonce=st.from_regex(r"[A-Za-z0-9_-]{16,64}", fullmatch=True),
)
def test_render_then_parse_gives_the_challenge_back(
    domain: str, now: int, ttl: int, nonce: str
) -> None:
    challenge = new_challenge(domain, WALLET.address, now, ttl, nonce)
    assert parse_challenge(render_challenge(challenge)) == challenge


def test_the_message_names_domain_wallet_nonce_and_expiry() -> None:
    text = render_challenge(new_challenge("gtx.test", WALLET.address, NOW, 300, "n" * 20))
    lines = text.splitlines()
    assert lines[0] == "gtx.test wants you to sign in with your Solana account:"
    assert lines[1] == WALLET.address
    assert "Nonce: " + "n" * 20 in lines
    assert lines[-1].startswith("Expiration Time: ")
    assert lines[-1].endswith("Z")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + "\n",
        lambda t: t.replace("Sign in to GridTokenX", "Send all my tokens"),
        lambda t: t.replace("Nonce: ", "Nonce:  "),
        lambda t: "",
        lambda t: t.replace("Z\nExpiration", "+00:00\nExpiration"),
    ],
)
def test_anything_but_the_exact_shape_is_malformed(mangle) -> None:  # type: ignore[no-untyped-def]
    text = render_challenge(new_challenge("gtx.test", WALLET.address, NOW, 300))
    with pytest.raises(AuthError) as info:
        parse_challenge(mangle(text))
    assert info.value.code == errors.MALFORMED_MESSAGE


def test_checks_refuse_other_domain_other_wallet_and_expiry() -> None:
    challenge = new_challenge("gtx.test", WALLET.address, NOW, 300)
    check_challenge(challenge, domain="gtx.test", address=WALLET.address, now=NOW + 299)
    cases = [
        ({"domain": "evil.test", "address": WALLET.address, "now": NOW}, errors.WRONG_DOMAIN),
        ({"domain": "gtx.test", "address": Signer.generate().address, "now": NOW},
         errors.ADDRESS_MISMATCH),
        ({"domain": "gtx.test", "address": WALLET.address, "now": NOW + 300},
         errors.NONCE_EXPIRED),
    ]  # fmt: skip
    for kwargs, code in cases:
        with pytest.raises(AuthError) as info:
            check_challenge(challenge, **kwargs)  # type: ignore[arg-type]
        assert info.value.code == code


def test_signature_verification() -> None:
    message = b"hello"
    key = check_address(WALLET.address)
    signature = WALLET.sign(message)
    assert signature_valid(message, signature, key)
    assert not signature_valid(b"hellO", signature, key)
    assert not signature_valid(message, signature, check_address(Signer.generate().address))
    assert not signature_valid(message, signature[:63], key)


def test_addresses_must_be_32_byte_base58_keys() -> None:
    for bad in ("", "0OIl", "1" * 44, "abc"):
        with pytest.raises(AuthError) as info:
            check_address(bad)
        assert info.value.code == errors.INVALID_WALLET
