#!/usr/bin/env bash
# Build a release binary and run the server (README's run command). Extra arguments go to `labledger serve`.
#   LABLEDGER_DATA_DIR (default ./data), LABLEDGER_LISTEN (default 127.0.0.1:8080)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
exec cargo run --release -p labledger -- serve \
    --data-dir "${LABLEDGER_DATA_DIR:-./data}" \
    --listen "${LABLEDGER_LISTEN:-127.0.0.1:8080}" \
    "$@"
