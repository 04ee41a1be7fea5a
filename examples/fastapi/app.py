"""An items API of the FastAPI security guides' kind, put behind rampart.

It has no login, token, password, CORS, CSRF or rate-limit code: rampart
does all of that in front of it, and vouches for each caller with a signed
assertion that `rampart_auth` verifies. Run it on loopback only:

    uvicorn app:app --host 127.0.0.1 --port 8001

The OAuth2 scheme below only documents each route's requirement in
`/openapi.json`, which rampart reads at start to learn which routes need a
signed-in caller and which roles (scopes) they need; rampart checks the
token and never forwards it, so the scheme refuses nothing (auto_error=False).
The `require_*` dependencies are what this app enforces. A WebSocket route
is not in the document, so rampart.toml names it in `[[gateway.routes]]`.
"""

from itertools import count

from fastapi import Depends, FastAPI, HTTPException, Security, WebSocket, WebSocketDisconnect, status
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, Field

from rampart_auth import Caller, require_role, require_user

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/auth/token", scopes={"admin": "Administrators"}, auto_error=False
)
SIGNED_IN = [Security(oauth2_scheme)]
ADMIN = [Security(oauth2_scheme, scopes=["admin"])]

app = FastAPI(title="Items behind rampart")


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)


class Item(ItemIn):
    id: int
    owner: str


# In memory, for the example; the handlers are `async def` without awaits,
# so they run one at a time on the event loop and need no lock.
items: dict[int, Item] = {}
next_id = count(1)


def owned_item(item_id: int, caller: Caller) -> Item:
    item = items.get(item_id)
    # Another user's item is as missing as one that never existed (OWASP API1).
    if item is None or item.owner != caller.username:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Item not found")
    return item


@app.get("/items/", dependencies=SIGNED_IN)
async def list_items(caller: Caller = Depends(require_user)) -> list[Item]:
    return [item for item in items.values() if item.owner == caller.username]


@app.post("/items/", status_code=status.HTTP_201_CREATED, dependencies=SIGNED_IN)
async def create_item(new: ItemIn, caller: Caller = Depends(require_user)) -> Item:
    item = Item(id=next(next_id), owner=caller.username, **new.model_dump())
    items[item.id] = item
    return item


@app.get("/items/{item_id}", dependencies=SIGNED_IN)
async def read_item(item_id: int, caller: Caller = Depends(require_user)) -> Item:
    return owned_item(item_id, caller)


@app.delete(
    "/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=SIGNED_IN
)
async def delete_item(item_id: int, caller: Caller = Depends(require_user)) -> None:
    del items[owned_item(item_id, caller).id]


@app.get("/admin/items", dependencies=ADMIN)
async def all_items(admin: Caller = Depends(require_role("admin"))) -> list[Item]:
    return list(items.values())


@app.get("/whoami", dependencies=SIGNED_IN)
async def whoami(caller: Caller = Depends(require_user)) -> dict:
    return {"username": caller.username, "roles": caller.roles}


# The same dependency as the HTTP routes: rampart vouches for the handshake.
@app.websocket("/ws/echo")
async def echo(websocket: WebSocket, caller: Caller = Depends(require_user)) -> None:
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_json({"username": caller.username, "echo": text})
    except WebSocketDisconnect:
        pass
