"""Who is calling, as rampart vouches for it.

rampart authenticates callers, drops whatever identity headers they sent, and
adds to every request it forwards `X-Rampart-Assertion`: a JWT signed with its
current key (published at its JWKS), naming the caller (`sub`, `roles`; both
absent for an anonymous caller), this app (`aud`), and the one request it was
made for (`htm` the method, `htu` the path and query as forwarded), expiring a
minute after it was made. Verifying it is all the trust this app needs: a
request that did not come through rampart, or an assertion lifted from one
request and replayed on another path or method or after a minute, is refused.
The assertion does not cover the body, so an assertion for an unsafe method
is accepted once only (its `jti` is remembered until it expires): replayed
with another body, it is refused too.

`rampart_caller` serves HTTP and WebSocket routes alike; a WebSocket
handshake is a GET, and that is the `htm` rampart signs for it.

Settings, from the environment when this module is imported. The defaults
fit examples/fastapi/rampart.toml: rampart listening on 127.0.0.1:8000 (its
`bind`), its own routes under /auth (`gateway.own_prefix`), and this app on
127.0.0.1:8001 (`gateway.upstream`).
    ASSERTION_JWKS_URL  rampart's JWKS: its address, `own_prefix`, then /.well-known/jwks.json
                        (default http://127.0.0.1:8000/auth/.well-known/jwks.json)
    ASSERTION_ISSUER    rampart's `auth.issuer` (default "rampart")
    ASSERTION_AUDIENCE  exactly `gateway.upstream` as an origin: scheme, host, and port unless
                        the scheme's default; no path, no trailing slash (default http://127.0.0.1:8001)
"""

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import jwt
from fastapi import Depends, HTTPException, status
from fastapi.requests import HTTPConnection

JWKS_URL = os.environ.get("ASSERTION_JWKS_URL", "http://127.0.0.1:8000/auth/.well-known/jwks.json")
ISSUER = os.environ.get("ASSERTION_ISSUER", "rampart")
AUDIENCE = os.environ.get("ASSERTION_AUDIENCE", "http://127.0.0.1:8001")

# The key set is cached for 60 s, and a kid it does not know refetches it at
# most once a second, so a key rotated in at once is picked up on its first
# assertion. No per-kid cache (cache_keys): it would never expire, and would
# keep trusting a key that `rampart keys rotate --revoke` withdrew.
_jwks = jwt.PyJWKClient(JWKS_URL, lifespan=60, cooldown_duration=1, timeout=5)

# Methods whose replay can only read again what the captured request read;
# every other method's assertion is good for one request.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

# The jti of every unsafe request's assertion, with its expiry, oldest first.
# An entry is needed only until its assertion expires (the signature check
# refuses it from then on), so the cache holds about `gateway.assertion_ttl`
# worth of unsafe requests. Past JTI_CACHE_MAX, unsafe requests are refused
# (503) until entries expire: forgetting an unexpired jti would reopen its
# replay. In memory, so per process: with several workers or instances, keep
# the set in a shared store instead (e.g. Redis `SET jti 1 NX EXAT exp`).
JTI_CACHE_MAX = 100_000
_jtis: OrderedDict[str, int] = OrderedDict()
_jtis_lock = threading.Lock()  # rampart_caller runs in FastAPI's thread pool


class _CacheFull(Exception):
    pass


def _first_use(jti: str, exp: int) -> bool:
    """Records `jti` until `exp`; False if it was recorded already."""
    now = time.time()
    with _jtis_lock:
        # Every assertion lives iat + assertion_ttl, so arrival order is
        # nearly expiry order and the expired ones are at the front.
        while _jtis and next(iter(_jtis.values())) <= now:
            _jtis.popitem(last=False)
        if exp <= now:
            # Expired since it was decoded; its entry may be gone already.
            return False
        if jti in _jtis:
            return False
        if len(_jtis) >= JTI_CACHE_MAX:
            for old in [old for old, old_exp in _jtis.items() if old_exp <= now]:
                del _jtis[old]
            if len(_jtis) >= JTI_CACHE_MAX:
                raise _CacheFull
        _jtis[jti] = exp
        return True


@dataclass(frozen=True)
class Caller:
    username: str | None  # None: an anonymous caller on a public route
    roles: list[str] = field(default_factory=list)


# A plain `def`, which FastAPI runs in its thread pool: PyJWKClient fetches
# the key set with blocking urllib (on the first request and when a new key
# appears), and inside an `async def` that would stall every request.
#
# HTTPConnection, not Request, so that WebSocket routes can depend on it too.
# An HTTPException raised before a WebSocket is accepted becomes the
# handshake's answer (401 or 403 with its JSON body), as on an HTTP route.
def rampart_caller(connection: HTTPConnection) -> Caller:
    scope = connection.scope
    method = "GET" if scope["type"] == "websocket" else scope["method"]
    try:
        token = connection.headers["x-rampart-assertion"]
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
        # The path exactly as received (connection.url.path is percent-decoded).
        target = scope["raw_path"].decode("latin-1")
        query = scope["query_string"].decode("latin-1")
        if query:
            target += "?" + query
        sub, roles = claims.get("sub"), claims.get("roles", [])
        if (
            header.get("typ") != "rampart-assertion+jwt"
            or claims["htm"] != method
            or claims["htu"] != target
            or not isinstance(claims["jti"], str)
            or not (sub is None or isinstance(sub, str))
            or not (isinstance(roles, list) and all(isinstance(r, str) for r in roles))
        ):
            raise ValueError("assertion is not for this request")
        # Last, so that only an assertion valid in every other way is recorded.
        if method not in SAFE_METHODS and not _first_use(claims["jti"], int(claims["exp"])):
            raise ValueError("assertion used already")
    except (KeyError, ValueError, jwt.PyJWTError) as err:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid rampart assertion") from err
    except _CacheFull:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "Service Unavailable", headers={"Retry-After": "1"}
        ) from None
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
