"""Checks examples/fastapi's assertion dependency without rampart.

Serves a JWKS of its own, mints assertions the way rampart does, and sends
them to the example app under a real uvicorn (so `raw_path` comes from a real
HTTP parser), over HTTP and over a WebSocket with the example's pinned
WebSocket library: the right assertion passes, and a forged, expired,
replayed or otherwise wrong one is 401. Plain asserts; exit status 0 when
all pass.

Usage: python tests/gateway/check_example.py   (tests/gateway/requirements.txt installed)
"""

import json
import logging
import os
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parents[1] / "examples" / "fastapi"
AUDIENCE = "http://127.0.0.1:8001"
KEY, OTHER_KEY, NEXT_KEY = (Ed25519PrivateKey.generate() for _ in range(3))
JWKS: dict = {"keys": []}
REFUSED = (401, {"detail": "Invalid rampart assertion"})


def publish(key: Ed25519PrivateKey, kid: str) -> None:
    jwk = OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    JWKS["keys"].append(jwk | {"kid": kid, "use": "sig", "alg": "EdDSA"})


class JwksHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(JWKS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def mint(method, target, *, key=KEY, kid="k1", sub="alice", roles=("user",),
         typ="rampart-assertion+jwt", **claims):
    """An assertion as rampart makes it; a claim given as None is left out."""
    now = int(time.time())
    payload = {"iss": "rampart", "aud": AUDIENCE, "iat": now, "exp": now + 60,
               "jti": secrets.token_urlsafe(16), "htm": method, "htu": target}
    if sub is not None:
        payload |= {"sub": sub, "roles": list(roles)}
    payload = {name: value for name, value in (payload | claims).items() if value is not None}
    return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": kid, "typ": typ})


def client(base: str):
    def call(method, target, assertion=None, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(base + target, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if assertion is not None:
            request.add_header("X-Rampart-Assertion", assertion)
        try:
            with urllib.request.urlopen(request) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        return status, json.loads(raw) if raw else None

    return call


def websocket(base: str):
    """Opens a WebSocket, says "hi" and returns (101, the answer), or the
    handshake's refusal as (status, body)."""

    def open_socket(target, assertion=None):
        headers = {} if assertion is None else {"X-Rampart-Assertion": assertion}
        try:
            with connect(base + target, additional_headers=headers, open_timeout=5) as socket:
                socket.send("hi")
                return 101, json.loads(socket.recv(timeout=5))
        except InvalidStatus as err:
            status, body = err.response.status_code, bytes(err.response.body or b"")
            try:
                return status, json.loads(body)
            except ValueError:  # uvicorn's own answers are plain text
                return status, body.decode("utf-8", "replace")

    return open_socket


def pins(path: Path) -> set[str]:
    lines = (line.split("#")[0].strip().lower() for line in path.read_text().splitlines())
    return {line for line in lines if line}


def run_checks(call, open_socket) -> int:
    passed = 0

    def expect(got, wanted, what):
        nonlocal passed
        assert got == wanted, f"{what}: got {got!r}, wanted {wanted!r}"
        passed += 1

    def whoami(assertion):
        return call("GET", "/whoami", assertion)

    alice = (200, {"username": "alice", "roles": ["user"]})
    expect(whoami(None), REFUSED, "no assertion")
    expect(whoami(mint("GET", "/whoami")), alice, "valid")
    expect(whoami(mint("GET", "/items/")), REFUSED, "replayed on another path")
    expect(whoami(mint("POST", "/whoami")), REFUSED, "replayed with another method")
    expect(call("GET", "/whoami?x=1", mint("GET", "/whoami")), REFUSED, "another query")
    expect(whoami(mint("GET", "/whoami", key=OTHER_KEY)), REFUSED, "signed by another key")
    expect(whoami(mint("GET", "/whoami", exp=int(time.time()) - 1)), REFUSED, "expired")
    expect(whoami(mint("GET", "/whoami", aud="http://127.0.0.1:9")), REFUSED, "other audience")
    expect(whoami(mint("GET", "/whoami", iss="someone")), REFUSED, "another issuer")
    expect(whoami(mint("GET", "/whoami", typ="JWT")), REFUSED, "an access token's typ")
    expect(whoami(mint("GET", "/whoami", jti=None)), REFUSED, "no jti")
    hs256 = jwt.encode({"sub": "alice"}, "k" * 32, algorithm="HS256", headers={"kid": "k1"})
    expect(whoami(hs256), REFUSED, "HS256 under a known kid")
    anonymous = whoami(mint("GET", "/whoami", sub=None))
    expect(anonymous, (401, {"detail": "Not authenticated"}), "anonymous")

    # htu is the target as sent, percent-encoding and all.
    expect(call("GET", "/items/a%20b", mint("GET", "/items/a b"))[0], 401, "decoded path")
    target = "/items/?q=a%20b"
    expect(call("GET", target, mint("GET", "/items/?q=a b"))[0], 401, "decoded query")
    expect(call("GET", target, mint("GET", target)), (200, []), "encoded query")

    status, item = call("POST", "/items/", mint("POST", "/items/"), {"name": "pen"})
    expect((status, item["owner"]), (201, "alice"), "create")
    path = f"/items/{item['id']}"
    missing = (404, {"detail": "Item not found"})
    expect(call("GET", path, mint("GET", path)), (200, item), "owner reads")
    expect(call("GET", path, mint("GET", path, sub="bob")), missing, "another user reads")
    admin_items = "/admin/items"
    expect(call("GET", admin_items, mint("GET", admin_items)),
           (403, {"detail": "Not enough permissions"}), "not an admin")
    expect(call("GET", admin_items, mint("GET", admin_items, roles=["admin"])),
           (200, [item]), "admin")
    expect(call("DELETE", path, mint("DELETE", path)), (204, None), "delete")
    expect(call("GET", path, mint("GET", path)), missing, "deleted")

    # The assertion does not cover the body: an unsafe method's is good once.
    once = mint("POST", "/items/")
    expect(call("POST", "/items/", once, {"name": "cup"})[0], 201, "first use")
    expect(call("POST", "/items/", once, {"name": "forged"}), REFUSED, "replayed, another body")
    expect(call("POST", "/items/", mint("POST", "/items/"), {"name": "mug"})[0], 201, "fresh jti")
    # Used once even when the handler refused it (the item is gone).
    gone = mint("DELETE", path)
    expect(call("DELETE", path, gone), missing, "first use")
    expect(call("DELETE", path, gone), REFUSED, "replayed DELETE")
    # A safe method's replay only reads again what it read: not remembered.
    listing = mint("GET", "/items/")
    expect(call("GET", "/items/", listing)[0], 200, "GET")
    expect(call("GET", "/items/", listing)[0], 200, "GET again")

    # The jti cache is bounded: full of unexpired entries, it refuses unsafe
    # requests (forgetting one would reopen its replay), and it drops
    # entries once their assertions expire.
    import rampart_auth

    rampart_auth.JTI_CACHE_MAX = len(rampart_auth._jtis) + 3
    soon = int(time.time()) + 2
    for n in range(3):
        short = mint("POST", "/items/", exp=soon)
        expect(call("POST", "/items/", short, {"name": f"n{n}"})[0], 201, "filling the cache")
    full = call("POST", "/items/", mint("POST", "/items/"), {"name": "one more"})
    expect(full, (503, {"detail": "Service Unavailable"}), "cache full")
    expect(whoami(mint("GET", "/whoami")), alice, "safe methods pass while full")

    # A key rotated in at once is fetched on its first assertion, once the
    # client's one-second cool-down between refetches has passed; by then the
    # short-lived entries above have expired too.
    publish(NEXT_KEY, "k2")
    time.sleep(max(1.1, soon - time.time() + 0.1))
    expect(whoami(mint("GET", "/whoami", key=NEXT_KEY, kid="k2")), alice, "rotated key")
    expect(call("POST", "/items/", mint("POST", "/items/"), {"name": "after"})[0], 201,
           "expired entries purged")

    # WebSocket routes depend on the same dependency; a handshake is a GET.
    echo = "/ws/echo"
    expect(open_socket(echo, mint("GET", echo)), (101, {"username": "alice", "echo": "hi"}),
           "WebSocket")
    expect(open_socket(echo), REFUSED, "WebSocket without an assertion")
    expect(open_socket(echo, mint("POST", echo)), REFUSED, "WebSocket, htm not GET")
    expect(open_socket(echo, mint("GET", "/whoami")), REFUSED, "WebSocket, another path")
    expect(open_socket(echo, mint("GET", echo, sub=None)), (401, {"detail": "Not authenticated"}),
           "WebSocket, anonymous")

    # This file runs from tests/gateway/requirements.txt, so what it checks
    # is the example as pinned only while both files pin the same: the
    # WebSocket library too, without which uvicorn answers /ws/echo 404.
    expect(pins(EXAMPLE / "requirements.txt"), pins(HERE / "requirements.txt"),
           "the example's pins are the tests'")
    return passed


def main() -> None:
    publish(KEY, "k1")
    jwks_server = ThreadingHTTPServer(("127.0.0.1", 0), JwksHandler)
    threading.Thread(target=jwks_server.serve_forever, daemon=True).start()

    # rampart_auth reads its settings when imported.
    os.environ["ASSERTION_JWKS_URL"] = f"http://127.0.0.1:{jwks_server.server_port}/jwks.json"
    os.environ["ASSERTION_AUDIENCE"] = AUDIENCE
    sys.path.insert(0, str(EXAMPLE))
    from app import app

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    # uvicorn's websockets-sansio protocol sends a refused handshake's answer
    # (the 401 the checks expect), then logs this error as if it had not.
    logging.getLogger("uvicorn.error").addFilter(
        lambda record: record.getMessage() != "ASGI callable returned without completing handshake."
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the example app did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        passed = run_checks(client(f"http://127.0.0.1:{port}"), websocket(f"ws://127.0.0.1:{port}"))
    finally:
        server.should_exit = True
        thread.join(5)
        jwks_server.shutdown()
    print(f"check_example: {passed} passed, 0 failed")


if __name__ == "__main__":
    main()
