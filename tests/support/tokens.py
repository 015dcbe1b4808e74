"""A token issuer for tests: its own RSA and Ed25519 key pairs, their public JWKS, and signed JWTs.

Two issuers built with the same kids publish the same key ids with different keys, which is how
a test forges "a known kid, signed by someone else".
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm


class TokenIssuer:
    def __init__(self, *, rsa_kid: str = "rsa-1", ed_kid: str = "ed-1") -> None:
        self.rsa_kid = rsa_kid
        self.ed_kid = ed_kid
        self.rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ed_key = ed25519.Ed25519PrivateKey.generate()

    @property
    def jwks(self) -> dict[str, Any]:
        """The public half of both key pairs, as the issuer's JWKS endpoint would serve it."""
        rsa_jwk = RSAAlgorithm.to_jwk(self.rsa_key.public_key(), as_dict=True)
        ed_jwk = OKPAlgorithm.to_jwk(self.ed_key.public_key(), as_dict=True)
        return {
            "keys": [
                {**rsa_jwk, "kid": self.rsa_kid, "alg": "RS256", "use": "sig"},
                {**ed_jwk, "kid": self.ed_kid, "alg": "EdDSA", "use": "sig"},
            ]
        }

    @property
    def rsa_public_pem(self) -> bytes:
        return self.rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def issue(
        self,
        scopes: str | Iterable[str] = (),
        *,
        sub: str = "user-1",
        kid: str | None = None,
        expires_in: float = 300,
        alg: str = "RS256",
        **claims: Any,
    ) -> str:
        """A signed token. `scopes` as a string is sent as is; as an iterable, it is sent as a
        JSON list. `kid` overrides the header's key id (the signing key stays this issuer's);
        `claims` are added to, or replace, the standard ones."""
        if alg == "RS256":
            key: Any = self.rsa_key
            default_kid = self.rsa_kid
        elif alg == "EdDSA":
            key = self.ed_key
            default_kid = self.ed_kid
        else:
            raise ValueError(f"this issuer signs RS256 or EdDSA, not {alg}")
        now = int(time.time())
        payload: dict[str, Any] = {
            "sub": sub,
            "scope": scopes if isinstance(scopes, str) else list(scopes),
            "iat": now,
            "exp": now + int(expires_in),
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid or default_kid})
