#!/usr/bin/env bash
# Backup throughput and peak memory (BENCHMARKS.md, "backup"): fills a fresh instance with
# FILES_MIB of evidence files and SAMPLES registered samples (one audit event each), then times
# `backup create`, `backup verify` and `backup restore` with GNU time (elapsed, peak RSS).
#
#   scripts/bench-backup.sh [BIN]     (BIN: the labledger binary, default target/debug/labledger)
#   FILES_MIB=512 FILE_MIB=128 SAMPLES=200000 scripts/bench-backup.sh
set -euo pipefail
BIN=${1:-target/debug/labledger}
FILES_MIB=${FILES_MIB:-512}
FILE_MIB=${FILE_MIB:-128}
SAMPLES=${SAMPLES:-200000}
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
DATA=$WORK/data
mkdir -p "$DATA"
export LABLEDGER_ADMIN_EMAIL=bench@lab.example LABLEDGER_ADMIN_PASSWORD='bench password long enough'
"$BIN" serve --listen 127.0.0.1:0 --data-dir "$DATA" --log-format text >"$WORK/out" 2>"$WORK/log" &
SERVER=$!
until grep -q "listening on" "$WORK/out"; do sleep 0.2; done
BASE=$(sed -n 's/^LabLedger listening on \([^ ]*\).*/\1/p' "$WORK/out")
ORG=$(sed -n 's/^First start: created organization .*(\(.*\)).*/\1/p' "$WORK/out")
python3 - "$BASE" "$ORG" "$FILES_MIB" "$FILE_MIB" "$SAMPLES" <<'PY'
import http.cookiejar, json, os, sys, urllib.request
base, org, files_mib, file_mib, samples = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
jar = http.cookiejar.CookieJar()
op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
def call(method, path, body, ctype="application/json", csrf=None):
    req = urllib.request.Request(base + path, data=body, method=method)
    req.add_header("content-type", ctype)
    if csrf: req.add_header("x-csrf-token", csrf)
    return json.load(op.open(req, timeout=3600))
me = call("POST", "/api/v1/auth/login", json.dumps({"email": os.environ["LABLEDGER_ADMIN_EMAIL"], "password": os.environ["LABLEDGER_ADMIN_PASSWORD"]}).encode())
csrf = me["csrf_token"]
for k in range(files_mib // file_mib):
    call("POST", f"/api/v1/orgs/{org}/files?name=f{k}.bin", os.urandom(file_mib << 20), "application/octet-stream", csrf)
left = samples
while left > 0:
    n = min(left, 10000)
    csv = "sample_type,source_ref\n" + "".join(f"blood,SUBJ-{i}\n" for i in range(n))
    call("POST", f"/api/v1/orgs/{org}/samples/import", csv.encode(), "text/csv", csrf)
    left -= n
print(f"filled: {files_mib} MiB of files, {samples} samples")
PY
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/backup.key"
export LABLEDGER_BACKUP_KEY_FILE=$WORK/backup.key
timed() { /usr/bin/time -f "%e s elapsed, %M KiB peak RSS" "$@" >"$WORK/cmd.out" 2>"$WORK/cmd.err" || { cat "$WORK/cmd.err"; exit 1; }; tail -n1 "$WORK/cmd.err"; }
echo "create (server running):"; timed "$BIN" backup create --out "$WORK/a.llbk" --data-dir "$DATA"
ls -l "$WORK/a.llbk" | awk '{print "archive bytes:", $5}'
echo "verify:"; timed "$BIN" backup verify "$WORK/a.llbk"
grep -E "intact|verdict" "$WORK/cmd.out"
echo "restore:"; timed "$BIN" backup restore "$WORK/a.llbk" --data-dir "$WORK/restored" --master-key "$(od -An -tx1 "$DATA/master.key" | tr -d ' \n')"
grep -E "intact|verdict" "$WORK/cmd.out"
