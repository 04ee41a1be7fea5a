"""An API written the naive way, for `rampart scan`'s tests: each mistake is
one the FastAPI security guides warn about, made on purpose.

- CORS reflects any origin, with credentials;
- tokens are HS256 under the FastAPI tutorial's own SECRET_KEY, and a token
  whose header says `alg: none` is believed without a signature;
- nothing is rate limited, not even the login;
- errors answer with Python's traceback (`debug=True`), and the search
  builds its SQL from the query string;
- the login sets a cookie without HttpOnly or SameSite.

With WEAK_TOKENS=1 its tokens are worse still: issued without `exp`, and
read without checking the signature or the expiry at all.

`GET /__requests` (left out of the document) says how many requests the app
has received, itself not counted.
"""

import os
import sqlite3
import time
import urllib.parse

import jwt
from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

# The FastAPI tutorial's key, as copied into many apps.
SECRET_KEY = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7"
USERS = {"alice": "wonderland"}
WEAK_TOKENS = os.environ.get("WEAK_TOKENS") == "1"
received = 0

app = FastAPI(debug=True)
app.add_middleware(
    CORSMiddleware,
    allow_origin_regex=".*",
    allow_credentials=True,
    allow_methods=["*"],
    allow_headers=["*"],
)


@app.middleware("http")
async def count(request: Request, call_next):
    global received
    if request.url.path != "/__requests":
        received += 1
    return await call_next(request)


@app.get("/__requests", include_in_schema=False)
def requests_received():
    return {"received": received}


@app.post("/token")
async def login(request: Request):
    # The form read by hand: a malformed body is a KeyError, and with
    # debug=True its traceback goes to the client.
    fields = dict(urllib.parse.parse_qsl((await request.body()).decode()))
    username, password = fields["username"], fields["password"]
    if USERS.get(username) != password:
        raise HTTPException(status_code=401, detail="Incorrect username or password")
    claims = {"sub": username} if WEAK_TOKENS else {"sub": username, "exp": int(time.time()) + 1800}
    token = jwt.encode(claims, SECRET_KEY, algorithm="HS256")
    response = JSONResponse({"access_token": token, "token_type": "bearer"})
    response.set_cookie("session", token, samesite=None)
    return response


def current_user(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if not header.startswith("Bearer "):
        raise HTTPException(status_code=401, detail="Not authenticated")
    token = header[len("Bearer "):]
    try:
        if WEAK_TOKENS or jwt.get_unverified_header(token).get("alg") == "none":
            claims = jwt.decode(token, options={"verify_signature": False})
        else:
            claims = jwt.decode(token, SECRET_KEY, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(status_code=401, detail="Invalid token")
    return claims["sub"]


@app.get("/users/me", openapi_extra={"security": [{"OAuth2PasswordBearer": []}]})
def me(request: Request):
    return {"username": current_user(request)}


@app.get("/items/")
def search(q: str = ""):
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE items (name TEXT)")
    rows = db.execute(f"SELECT name FROM items WHERE name LIKE '%{q}%'").fetchall()
    return [name for (name,) in rows]
