"""The platform's token issuer: signing keys, API clients, OAuth2 grants, JWKS and discovery."""
