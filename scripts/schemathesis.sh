#!/usr/bin/env bash
# Schemathesis over the whole OpenAPI document, against a real server: `labledger serve` on
# SQLite in a temporary data dir on a loopback port, mailing through a real SMTP relay
# (aiosmtpd), called with an API token that holds every permission (sent as
# `Authorization: Bearer …` through the document's `bearer` scheme, see schemathesis.toml).
# Every check runs (--checks all); any finding fails the script. Called by scripts/test.sh
# (CI); runs on its own too:
#
#   scripts/schemathesis.sh [--max-examples N]      (default N: $SCHEMATHESIS_MAX_EXAMPLES or 10)
#
# Needs python3 with aiosmtpd (test.sh installs it); installs schemathesis 4.32.5 when missing.
# Builds the labledger binary when it is not built (cargo build -p labledger).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-10}"
if [[ "${1:-}" == "--max-examples" && -n "${2:-}" ]]; then
    MAX_EXAMPLES="$2"
fi
SCHEMATHESIS_VERSION=4.32.5

if ! command -v schemathesis >/dev/null 2>&1 || [[ "$(schemathesis --version 2>/dev/null)" != *"$SCHEMATHESIS_VERSION"* ]]; then
    echo "installing: schemathesis $SCHEMATHESIS_VERSION (PyPI)"
    python3 -m pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
python3 -c 'import aiosmtpd.handlers' || { echo "aiosmtpd is missing (pip install aiosmtpd)" >&2; exit 1; }

cargo build -q -p labledger --bin labledger
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/labledger"

WORK=$(mktemp -d -t schemathesis.XXXXXX)
SERVER_PID=""
SMTP_PID=""
cleanup() {
    local rc=$?
    # Only the two processes this script started, by their ids.
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    if [[ -n "$SMTP_PID" ]]; then kill "$SMTP_PID" 2>/dev/null || true; wait "$SMTP_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A real SMTP relay: invitations and password resets are sent, not refused with 503.
SMTP_PORT=$(free_port)
python3 -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$WORK/mail" \
    >"$WORK/smtp.log" 2>&1 &
SMTP_PID=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT") 2>/dev/null && break
    sleep 0.1
done

ADMIN_EMAIL=owner@lab.example
ADMIN_PASSWORD="schemathesis owner long password"
mkdir -p "$WORK/data"
env -u LABLEDGER_DATABASE_URL LABLEDGER_ADMIN_EMAIL="$ADMIN_EMAIL" LABLEDGER_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    "$BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" --log-format text \
    --smtp-url "smtp://127.0.0.1:$SMTP_PORT" >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!

BASE="" ORG=""
for _ in $(seq 300); do
    if grep -q '^LabLedger listening on ' "$WORK/server.out" 2>/dev/null; then
        BASE=$(sed -n 's/^LabLedger listening on \([^ ]*\).*/\1/p' "$WORK/server.out" | head -n1)
        ORG=$(sed -n 's/^First start: created organization .*(\([^)]*\)).*/\1/p' "$WORK/server.out" | head -n1)
        break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "the server exited" >&2; exit 1; }
    sleep 0.1
done
[[ -n "$BASE" && -n "$ORG" ]] || { cat "$WORK/server.log" >&2; echo "the server did not start" >&2; exit 1; }
echo "server: $BASE, org $ORG, SMTP relay on 127.0.0.1:$SMTP_PORT"

# The owner logs in (a fresh login counts as a recent password entry) and makes a token that
# holds every permission there is.
TOKEN=$(BASE="$BASE" ORG="$ORG" EMAIL="$ADMIN_EMAIL" PASSWORD="$ADMIN_PASSWORD" python3 - <<'PY'
import http.cookiejar, json, os, urllib.request

base, org = os.environ["BASE"], os.environ["ORG"]
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

def call(method, path, body=None, csrf=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Origin", base)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if csrf:
        req.add_header("X-CSRF-Token", csrf)
    with opener.open(req) as res:
        return json.load(res)

me = call("POST", "/api/v1/auth/login", {"email": os.environ["EMAIL"], "password": os.environ["PASSWORD"]})
permissions = call("GET", "/api/v1/permissions")
names = [p["name"] if isinstance(p, dict) else p for p in permissions.get("items", permissions)]
token = call("POST", f"/api/v1/orgs/{org}/api-tokens",
             {"name": "schemathesis", "permissions": names, "expires_in_days": 1}, csrf=me["csrf_token"])
print(token["token"])
PY
)
[[ "$TOKEN" == llat_* ]] || { echo "no API token was made" >&2; exit 1; }

echo "schemathesis: every operation, all checks, --max-examples $MAX_EXAMPLES --seed 1"
status=0
# From the temporary directory: schemathesis keeps its cache (.schemathesis/) in the current one.
(cd "$WORK" && SCHEMATHESIS_ORG_ID="$ORG" SCHEMATHESIS_TOKEN="$TOKEN" schemathesis --config-file "$ROOT/scripts/schemathesis.toml" run \
    "$BASE/api/v1/openapi.json" \
    --checks all --max-examples "$MAX_EXAMPLES" --seed 1 --workers 1 \
    --report junit --report-dir "$WORK/report") || status=$?
if ((status != 0)); then
    echo "---- the server's errors and warnings (last 40) ----" >&2
    grep -E ' (ERROR|WARN) ' "$WORK/server.log" | grep -v 'security:' | tail -n 40 >&2 || true
    echo "schemathesis found problems (exit $status)" >&2
fi
exit "$status"
