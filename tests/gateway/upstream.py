"""The upstream API that the gateway tests put behind rampart.

A FastAPI app documented the way the FastAPI security guides document one
(OAuth2 password bearer, scopes as roles), so rampart derives its routes from
`/openapi.json`, and recording every request it receives exactly as it
arrived, so a test can see what rampart forwarded: `GET /_upstream/records`
lists them, `DELETE /_upstream/records` forgets them. Those two are left out
of the OpenAPI document, so rampart never forwards them; tests call them on
the upstream's own port.

    uvicorn upstream:app --app-dir tests/gateway --host 127.0.0.1 --port PORT

With `UPSTREAM_ROOT_SECURITY=1` the document states its security once at the
root instead of per operation, and `/public/hello` opts out with its own
empty list.
"""

import asyncio
import os
from collections import deque

from fastapi import FastAPI, Query, Request, Security, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel

# rampart verifies the bearer token and never forwards it, so the scheme only
# documents the requirement: with auto_error=False it refuses nothing.
oauth2 = OAuth2PasswordBearer(
    tokenUrl="token",
    scopes={"admin": "Administrators", "reports:write": "Write reports"},
    auto_error=False,
)
AUTHENTICATED = [Security(oauth2)]
ADMIN = [Security(oauth2, scopes=["admin"])]

# Oldest first; bounded so a long run cannot grow it without end.
RECORDS: deque[dict] = deque(maxlen=10_000)


def header_pairs(scope: dict) -> list[list[str]]:
    """The headers as received: lower-cased names, order and duplicates kept."""
    return [[name.decode("latin-1"), value.decode("latin-1")] for name, value in scope["headers"]]


class Recorder:
    """Pure ASGI middleware, so it sees WebSocket handshakes too and never
    buffers a streamed response. `body_bytes` counts the request body the
    app read, updated as it reads; `disconnected` is set when the client
    went away before the app had read it all."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith("/_upstream/"):
            return await self.app(scope, receive, send)
        record = {
            "type": scope["type"],
            "method": scope.get("method", "GET"),  # a WebSocket handshake is a GET
            "raw_path": scope["raw_path"].decode("latin-1"),
            "query": scope["query_string"].decode("latin-1"),
            "headers": header_pairs(scope),
            "body_bytes": 0,
            # The port of the connection it came on: one per connection.
            "client_port": scope["client"][1] if scope.get("client") else None,
        }
        RECORDS.append(record)

        async def counting_receive():
            message = await receive()
            if message["type"] == "http.request":
                record["body_bytes"] += len(message.get("body", b""))
            elif message["type"] == "http.disconnect":
                record["disconnected"] = True
            return message

        await self.app(scope, counting_receive, send)


app = FastAPI(title="gateway test upstream")
app.add_middleware(Recorder)


@app.get("/_upstream/records", include_in_schema=False)
async def records() -> list[dict]:
    return list(RECORDS)


@app.delete("/_upstream/records", include_in_schema=False)
async def clear_records() -> dict:
    RECORDS.clear()
    return {"cleared": True}


@app.get("/public/hello")
async def hello() -> dict:
    return {"hello": "world"}


@app.get("/reports", dependencies=AUTHENTICATED)
async def reports() -> dict:
    return {"reports": ["q1", "q2"]}


@app.get("/reports/{report_id}", dependencies=AUTHENTICATED)
async def report(report_id: int) -> dict:
    return {"id": report_id}


# Declared after the template it also matches: Starlette runs `report` for
# it (and refuses "summary" as an integer), so a gateway must apply that
# route's rule, not this one's.
@app.get("/reports/summary")
async def reports_summary() -> dict:
    return {"summary": "public"}


@app.get("/staff/stats", dependencies=ADMIN)
async def admin_stats() -> dict:
    return {"users": 3}


class Note(BaseModel):
    text: str


@app.post("/notes", status_code=201, dependencies=AUTHENTICATED)
async def create_note(note: Note) -> Note:
    return note


async def describe(request: Request) -> dict:
    body = await request.body()
    return {
        "method": request.method,
        "raw_path": request.scope["raw_path"].decode("latin-1"),
        "query": request.scope["query_string"].decode("latin-1"),
        "headers": header_pairs(request.scope),
        "body_bytes": len(body),
    }


@app.get("/echo")
@app.post("/echo")
async def echo(request: Request) -> dict:
    return await describe(request)


@app.get("/private/echo", dependencies=AUTHENTICATED)
@app.post("/private/echo", dependencies=AUTHENTICATED)
@app.put("/private/echo", dependencies=AUTHENTICATED)
@app.delete("/private/echo", dependencies=AUTHENTICATED)
async def private_echo(request: Request) -> dict:
    return await describe(request)


@app.get("/big")
async def big(mb: int = Query(1, ge=0, le=4096)) -> StreamingResponse:
    chunk = bytes(64 * 1024)

    async def chunks():
        for _ in range(mb * 16):
            yield chunk

    return StreamingResponse(chunks(), media_type="application/octet-stream")


@app.get("/slow")
async def slow(seconds: float = Query(ge=0, le=300)) -> dict:
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@app.get("/leaky")
async def leaky() -> JSONResponse:
    """Headers a gateway must strip (server banner, CORS, rampart's cookie
    names in any case or prefix) next to ones it must pass (the app's own
    cookie, its caching and framing policies)."""
    response = JSONResponse({"ok": True})
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["X-Powered-By"] = "FastAPI"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Credentials"] = "true"
    response.headers["Cache-Control"] = "public, max-age=600"
    for cookie in (
        "rampart_session=planted; Path=/",
        "__Host-rampart_session=planted; Path=/; Secure",
        "rampart_csrf=planted; Path=/",
        "RAMPART_DEVICE=planted; Path=/",
        "app_pref=dark; Path=/",
    ):
        response.headers.append("Set-Cookie", cookie)
    return response


@app.get("/cache/private", dependencies=AUTHENTICATED)
async def cache_private() -> JSONResponse:
    return JSONResponse({"ok": True}, headers={"Cache-Control": "private, max-age=60"})


@app.websocket("/ws/echo")
async def ws_echo(websocket: WebSocket) -> None:
    """Selects the first subprotocol offered (a browser fails a handshake
    whose offered subprotocols get no answer), sends the handshake headers
    it received, then echoes text messages."""
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=offered[0] if offered else None)
    await websocket.send_json({"headers": header_pairs(websocket.scope)})
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


def openapi_with_root_security() -> dict:
    """FastAPI's document (built once and cached by FastAPI) with the
    requirement at the root: every operation without its own `security`
    inherits it, and `/public/hello` stays public by its own empty list."""
    schema = FastAPI.openapi(app)
    if "security" not in schema:
        schema["security"] = [{"OAuth2PasswordBearer": []}]
        schema["paths"]["/public/hello"]["get"]["security"] = []
    return schema


if os.environ.get("UPSTREAM_ROOT_SECURITY") == "1":
    app.openapi = openapi_with_root_security
