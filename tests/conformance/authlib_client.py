"""Authlib's OAuth2 client against a running rampart: it must raise on a
wrong password and on a revoked refresh token, not store the error body as
if it were a token (RFC 6749 section 5.2's `error` field is what it reads),
and read `mfa_required` as an error once the user has a second factor,
then sign in with the second step's grant (TOTP codes from pyotp).

Usage: python authlib_client.py BASE_URL USERNAME PASSWORD
"""

import sys
import time

import pyotp
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

    # With TOTP on, the password alone answers `mfa_required`: Authlib
    # raises, and names it.
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    begun = requests.post(f"{base}/users/me/mfa/totp", json={"current_password": password}, headers=bearer, timeout=10)
    assert begun.status_code == 200, begun.text
    totp = pyotp.TOTP(begun.json()["secret"])
    confirmed = requests.post(f"{base}/users/me/mfa/totp/confirm", json={"code": totp.now()}, headers=bearer, timeout=10)
    assert confirmed.status_code == 200, confirmed.text
    try:
        OAuth2Session().fetch_token(token_url, username=username, password=password)
    except OAuthError as err:
        assert err.error == "mfa_required", err.error
        assert err.description == "Second factor required", err.description
    else:
        raise AssertionError("a password alone signed in a user with TOTP")
    # The second step through the same client: the first step's mfa_token
    # and a code (the next time step's: the confirmation spent this one).
    first = requests.post(token_url, data={"username": username, "password": password}, timeout=10)
    assert first.status_code == 403, first.text
    second = OAuth2Session().fetch_token(
        token_url,
        grant_type="urn:rampart:grant-type:mfa",
        mfa_token=first.json()["mfa_token"],
        otp=totp.at(time.time() + 30),
    )
    assert second["token_type"] == "bearer", second
    print("authlib: wrong password, revoked refresh token, unknown grant and mfa_required all raise; "
          "the second factor's grant signs in")


if __name__ == "__main__":
    main(*sys.argv[1:4])
