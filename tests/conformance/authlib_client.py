"""Authlib's OAuth2 client against a running rampart: it must raise on a
wrong password and on a revoked refresh token, not store the error body as
if it were a token (RFC 6749 section 5.2's `error` field is what it reads).

Usage: python authlib_client.py BASE_URL USERNAME PASSWORD
"""

import sys

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError


def main(base: str, username: str, password: str) -> None:
    token_url = f"{base}/token"

    # A wrong password raises, with the OAuth2 error code.
    session = OAuth2Session()
    try:
        session.fetch_token(token_url, username=username, password=password + "-wrong")
    except OAuthError as err:
        assert err.error == "invalid_grant", err.error
    else:
        raise AssertionError(f"a wrong password was stored as a token: {session.token}")

    # The right one gives a token that opens a protected route.
    token = session.fetch_token(token_url, username=username, password=password)
    assert token["token_type"] == "bearer", token
    me = session.get(f"{base}/users/me")
    assert me.status_code == 200 and me.json()["username"] == username, me.text

    # Revoked (RFC 7009), the refresh token no longer refreshes: Authlib raises.
    revoked = session.revoke_token(f"{base}/token/revoke", token=token["refresh_token"])
    assert revoked.status_code == 200, revoked.text
    try:
        session.refresh_token(token_url, refresh_token=token["refresh_token"])
    except OAuthError as err:
        assert err.error == "invalid_grant", err.error
    else:
        raise AssertionError(f"a revoked refresh token was stored as a token: {session.token}")

    # A grant rampart does not offer raises too.
    try:
        OAuth2Session().fetch_token(token_url, grant_type="client_credentials")
    except OAuthError as err:
        assert err.error == "unsupported_grant_type", err.error
    else:
        raise AssertionError("client_credentials was accepted")
    requests.get(f"{base}/healthz", timeout=5).raise_for_status()
    print("authlib: wrong password, revoked refresh token and unknown grant all raise")


if __name__ == "__main__":
    main(*sys.argv[1:4])
