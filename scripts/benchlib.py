"""What the Python scripts share: a measuring server's environment and
users, its start (the address from its `listening` log line, the rest of
its log drained so that a full pipe never stalls it), and a token.

Import it from a script in this folder:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import benchlib
"""
import json, os, secrets, subprocess, sys, threading, urllib.parse, urllib.request

# Limits out of a measurement's way (rate limiting has its own benches).
RAISED_LIMITS = {
    "RAMPART_RATE_LIMIT__DEFAULT": "1000000000/minute",
    "RAMPART_RATE_LIMIT__LOGIN": "1000000000/minute",
    "RAMPART_RATE_LIMIT__LOGIN_PER_USERNAME": "1000000000/minute",
}


def environment(home, database_url, **extra):
    """A server's whole environment: a fresh secret, both listeners on
    ports the system picks, the limits raised, then `extra`."""
    return {
        "PATH": os.environ["PATH"], "HOME": home, "RAMPART_DATABASE_URL": database_url,
        "RAMPART_SECRET_KEY": secrets.token_hex(32),
        "RAMPART_BIND": "127.0.0.1:0", "RAMPART_ADMIN_BIND": "127.0.0.1:0",
        **RAISED_LIMITS, **extra,
    }


def create_user(binary, env, cwd, username, password):
    subprocess.run([binary, "user", "create", "--username", username], cwd=cwd, env=env,
                   input=password + "\n", text=True, check=True, capture_output=True)


def start(command, env, cwd):
    """Starts `command` (a `serve`, under whatever wraps it) and returns the
    process and its base URL once it listens."""
    server = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    for line in server.stdout:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("message") == "listening":
            threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
            return server, "http://" + event["addr"]
    sys.exit(f"{command[0]}: the server did not start")


def token(base, username, password):
    """An access token from `POST /token`."""
    body = urllib.parse.urlencode({"username": username, "password": password}).encode()
    with urllib.request.urlopen(base + "/token", body) as response:
        return json.load(response)["access_token"]
