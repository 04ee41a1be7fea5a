# What the bash scripts share. Source it:
#   . "$(dirname "$0")/lib.sh"

# Limits out of a measurement's way (rate limiting has its own benches),
# as `env` arguments.
RAISED_LIMITS=(RAMPART_RATE_LIMIT__DEFAULT=1000000000/minute RAMPART_RATE_LIMIT__LOGIN=1000000000/minute
  RAMPART_RATE_LIMIT__LOGIN_PER_USERNAME=1000000000/minute)

# A TCP port free on 127.0.0.1 now.
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# Waits up to 10 s for URL to answer 2xx; exits the script if it never does.
wait_for() {
  for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "no answer from $1" >&2; exit 1
}

# An access token: token BASE_URL USERNAME PASSWORD.
token() {
  curl -sf "$1/token" --data-urlencode "username=$2" --data-urlencode "password=$3" |
    python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])'
}

# The user and system CPU ticks a process has used (getconf CLK_TCK a second).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The same, user and system apart: "USER SYSTEM".
user_system_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
