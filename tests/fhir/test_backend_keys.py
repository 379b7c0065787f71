"""Client assertions and keys for SMART Backend Services, verified with joserfc as a server would."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from holovitals.fhir.backend import (
    UnusableKey,
    generate_private_key,
    jwk_from_pem,
    jwks_document,
    make_client_assertion,
    public_jwks,
)
from holovitals.security.redaction import scrub_text

TOKEN_URL = "https://ehr.example.org/oauth2/token"


@pytest.fixture(scope="module")
def rsa_jwk() -> dict:
    return generate_private_key("RS384")


@pytest.fixture(scope="module")
def ec_jwk() -> dict:
    return generate_private_key("ES384")


def verify(assertion: str, private_jwk: dict, alg: str):
    public = public_jwks([private_jwk])["keys"][0]
    key = RSAKey.import_key(public) if public["kty"] == "RSA" else ECKey.import_key(public)
    return jwt.decode(assertion, key, algorithms=[alg])


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_assertion_has_the_claims_and_header_smart_requires(alg, rsa_jwk, ec_jwk):
    private = rsa_jwk if alg == "RS384" else ec_jwk
    before = int(time.time())
    assertion = make_client_assertion(
        private, client_id="my-app", token_url=TOKEN_URL, alg=alg, jku="https://app.example.org/jwks"
    )
    token = verify(assertion, private, alg)
    assert token.header == {"alg": alg, "kid": private["kid"], "typ": "JWT", "jku": "https://app.example.org/jwks"}
    claims = token.claims
    assert claims["iss"] == claims["sub"] == "my-app"
    assert claims["aud"] == TOKEN_URL
    assert before <= claims["iat"] <= claims["exp"] - 1
    assert claims["exp"] <= claims["iat"] + 300


def test_every_assertion_has_a_unique_jti(rsa_jwk):
    jtis = {
        verify(make_client_assertion(rsa_jwk, client_id="a", token_url=TOKEN_URL), rsa_jwk, "RS384").claims["jti"]
        for _ in range(5)
    }
    assert len(jtis) == 5


def test_assertions_longer_than_five_minutes_are_refused(rsa_jwk):
    with pytest.raises(ValueError, match="lifetime"):
        make_client_assertion(rsa_jwk, client_id="a", token_url=TOKEN_URL, lifetime=3600)


def test_a_key_of_the_wrong_type_for_the_algorithm_is_refused(rsa_jwk, ec_jwk):
    with pytest.raises(UnusableKey, match="ES384 needs an EC P-384 key"):
        make_client_assertion(rsa_jwk, client_id="a", token_url=TOKEN_URL, alg="ES384")
    with pytest.raises(UnusableKey, match="RS384 needs an RSA key"):
        make_client_assertion(ec_jwk, client_id="a", token_url=TOKEN_URL, alg="RS384")
    with pytest.raises(UnusableKey, match="private part"):
        make_client_assertion(public_jwks([rsa_jwk])["keys"][0], client_id="a", token_url=TOKEN_URL)


def test_published_jwks_holds_no_private_material(rsa_jwk, ec_jwk):
    document = jwks_document([rsa_jwk, ec_jwk, rsa_jwk])
    assert [k["kid"] for k in document["keys"]] == [rsa_jwk["kid"], ec_jwk["kid"]]
    for key in document["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
        assert key["use"] == "sig" and key["alg"] in ("RS384", "ES384")


def test_private_key_material_never_reaches_a_log(rsa_jwk):
    assert rsa_jwk["d"] not in scrub_text(f"oops: {rsa_jwk}")


def test_a_pem_key_becomes_a_jwk_with_its_thumbprint_as_kid():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    jwk = jwk_from_pem(pem)
    assert jwk["kty"] == "RSA" and jwk["kid"] == RSAKey.import_key(pem).thumbprint()
    assertion = make_client_assertion(jwk, client_id="a", token_url=TOKEN_URL)
    assert verify(assertion, jwk, "RS384").claims["iss"] == "a"
