"""Who is calling, as rampart vouches for it.

rampart authenticates callers, drops whatever identity headers they sent, and
adds to every request it forwards `X-Rampart-Assertion`: a JWT signed with its
current key (published at its JWKS), naming the caller (`sub`, `roles`; both
absent for an anonymous caller), this app (`aud`), and the one request it was
made for (`htm` the method, `htu` the path and query as forwarded), expiring a
minute after it was made. Verifying it is all the trust this app needs: a
request that did not come through rampart, or an assertion lifted from one
request and replayed on another path or method or after a minute, is refused.

Settings (the defaults fit examples/fastapi/rampart.toml):
    ASSERTION_JWKS_URL  rampart's JWKS, e.g. http://127.0.0.1:8000/auth/.well-known/jwks.json
    ASSERTION_ISSUER    rampart's `auth.issuer` (default "rampart")
    ASSERTION_AUDIENCE  this app's origin as rampart forwards to it, e.g. http://127.0.0.1:8001
"""

import os
from dataclasses import dataclass, field

import jwt
from fastapi import Depends, HTTPException, Request, status

JWKS_URL = os.environ.get("ASSERTION_JWKS_URL", "http://127.0.0.1:8000/auth/.well-known/jwks.json")
ISSUER = os.environ.get("ASSERTION_ISSUER", "rampart")
AUDIENCE = os.environ.get("ASSERTION_AUDIENCE", "http://127.0.0.1:8001")

# The key set is cached for 60 s, and a kid it does not know refetches it at
# most once a second, so a key rotated in at once is picked up on its first
# assertion. No per-kid cache (cache_keys): it would never expire, and would
# keep trusting a key that `rampart keys rotate --revoke` withdrew.
_jwks = jwt.PyJWKClient(JWKS_URL, lifespan=60, cooldown_duration=1, timeout=5)


@dataclass(frozen=True)
class Caller:
    username: str | None  # None: an anonymous caller on a public route
    roles: list[str] = field(default_factory=list)


# A plain `def`, which FastAPI runs in its thread pool: PyJWKClient fetches
# the key set with blocking urllib (on the first request and when a new key
# appears), and inside an `async def` that would stall every request.
def rampart_caller(request: Request) -> Caller:
    try:
        token = request.headers["x-rampart-assertion"]
        key = _jwks.get_signing_key_from_jwt(token)
        verified = jwt.decode_complete(
            token,
            key,  # the PyJWK itself: its own algorithm, whatever the header claims
            algorithms=["EdDSA", "ES256", "RS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "iss", "aud", "jti", "htm", "htu"]},
        )
        header, claims = verified["header"], verified["payload"]
        # The path exactly as received (request.url.path is percent-decoded).
        target = request.scope["raw_path"].decode("latin-1")
        query = request.scope["query_string"].decode("latin-1")
        if query:
            target += "?" + query
        sub, roles = claims.get("sub"), claims.get("roles", [])
        if (
            header.get("typ") != "rampart-assertion+jwt"
            or claims["htm"] != request.method
            or claims["htu"] != target
            or not (sub is None or isinstance(sub, str))
            or not (isinstance(roles, list) and all(isinstance(r, str) for r in roles))
        ):
            raise ValueError("assertion is not for this request")
    except (KeyError, ValueError, jwt.PyJWTError) as err:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid rampart assertion") from err
    return Caller(username=sub, roles=roles)


def require_user(caller: Caller = Depends(rampart_caller)) -> Caller:
    if caller.username is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated")
    return caller


def require_role(role: str):
    """A dependency admitting only authenticated callers that hold `role`."""

    def check(caller: Caller = Depends(require_user)) -> Caller:
        if role not in caller.roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Not enough permissions")
        return caller

    return check
