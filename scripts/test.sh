#!/usr/bin/env bash
# LabLedger's test command (README) and CI's: run as root on Debian 12.
# Installs what it needs (PostgreSQL server, Chromium + chromedriver) when missing, checks formatting and
# lints, then runs the test suite once against SQLite and once against a throwaway PostgreSQL cluster.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

# shellcheck source=scripts/pg-throwaway.sh
source "$ROOT/scripts/pg-throwaway.sh" # only defines pg_throwaway_* functions

section() {
    printf '\n==== %s ====\n' "$*"
}

# cargo lives in ~/.cargo/bin on this kind of machine; CI's environment may not have it on PATH.
if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
if [[ -n "${CI:-}" ]]; then
    export CARGO_TERM_COLOR=never
fi

# ---------------------------------------------------------------------------------------------------------
section "Tools"

have_pg_server() {
    local bin
    for bin in /usr/lib/postgresql/*/bin/initdb; do
        [[ -x "$bin" ]] && return 0
    done
    return 1
}

missing=()
have_pg_server || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-liberation)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# pdftotext: the storage tests read the codes back out of the label sheet PDF.
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
# openssl: the TLS tests make certificates and probe protocol versions with s_client.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# nginx: the proxy test runs LabLedger behind the README's nginx example; testssl.sh scans its TLS.
[[ -x /usr/sbin/nginx ]] || command -v nginx >/dev/null 2>&1 || missing+=(nginx-light)
command -v testssl >/dev/null 2>&1 || missing+=(testssl.sh)

if ((${#missing[@]} > 0)); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "missing packages (${missing[*]}) and not root: install them, or run as root" >&2
        exit 1
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # No recommends: postgresql pulls in its server package (postgresql-15) by dependency; Chromium runs
    # headless, so its recommends (upower, mesa, notification daemon, ...) are not needed, except a font.
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi

have_pg_server || { echo "PostgreSQL server binaries (initdb) still missing after install" >&2; exit 1; }
command -v chromium >/dev/null 2>&1 || { echo "chromium still missing after install" >&2; exit 1; }
command -v chromedriver >/dev/null 2>&1 || { echo "chromedriver still missing after install" >&2; exit 1; }

# The outside OpenAPI validator the platform tests call.
if ! command -v openapi-spec-validator >/dev/null 2>&1; then
    echo "installing: openapi-spec-validator (PyPI)"
    python3 -m pip install -q --disable-pip-version-check openapi-spec-validator
fi
command -v openapi-spec-validator >/dev/null 2>&1 || { echo "openapi-spec-validator still missing after install" >&2; exit 1; }
# The local SMTP server the mail tests start (python3 -m aiosmtpd ... -c aiosmtpd.handlers.Mailbox DIR).
if ! python3 -c 'import aiosmtpd.handlers' >/dev/null 2>&1; then
    echo "installing: aiosmtpd (PyPI)"
    python3 -m pip install -q --disable-pip-version-check aiosmtpd
fi
python3 -c 'import aiosmtpd.handlers' || { echo "aiosmtpd still missing after install" >&2; exit 1; }
command -v promtool >/dev/null 2>&1 || { echo "promtool still missing after install" >&2; exit 1; }

# The outside TOTP authenticator the MFA tests compare against.
if ! python3 -c "import pyotp" >/dev/null 2>&1; then
    echo "installing: pyotp (PyPI)"
    python3 -m pip install -q --disable-pip-version-check pyotp
fi
python3 -c "import pyotp" >/dev/null 2>&1 || { echo "pyotp still missing after install" >&2; exit 1; }

# The local S3-compatible server the evidence vault's S3 test starts (moto_server).
if ! command -v moto_server >/dev/null 2>&1; then
    echo "installing: moto[server] (PyPI)"
    python3 -m pip install -q --disable-pip-version-check "moto[server]"
fi
command -v moto_server >/dev/null 2>&1 || { echo "moto_server still missing after install" >&2; exit 1; }

# The ELN Consortium's own checks (crates/cli/tests/data/eln: their checks.py and schema.json) with the
# versions they pin (rocrate, roc-validator, jsonschema), in a venv of their own so nothing else moves.
ELN_VENV="$ROOT/target/eln-checks"
ELN_REQS="$ROOT/crates/cli/tests/data/eln/consortium/requirements.txt"
if ! cmp -s "$ELN_REQS" "$ELN_VENV/requirements.txt" 2>/dev/null; then
    echo "installing: the ELN Consortium's check packages (PyPI, pinned) into $ELN_VENV"
    rm -rf "$ELN_VENV"
    python3 -m venv "$ELN_VENV"
    "$ELN_VENV/bin/pip" install -q --disable-pip-version-check -r "$ELN_REQS"
    cp "$ELN_REQS" "$ELN_VENV/requirements.txt"
fi
export LABLEDGER_ELN_CHECKS_PYTHON="$ELN_VENV/bin/python"

export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"

cargo --version
rustc --version
printf 'postgres:     %s\n' "$("$(pg_throwaway_bin)/postgres" --version)"
printf 'chromium:     %s\n' "$("$CHROMIUM" --version 2>/dev/null || echo '?')"
printf 'chromedriver: %s\n' "$("$CHROMEDRIVER" --version 2>/dev/null || echo '?')"

# ---------------------------------------------------------------------------------------------------------
section "cargo fmt --all --check"
if cargo fmt --version >/dev/null 2>&1; then
    cargo fmt --all --check
else
    echo "rustfmt is not installed: skipping the format check"
fi

# ---------------------------------------------------------------------------------------------------------
section "cargo clippy --workspace --all-targets -- -D warnings"
if cargo clippy --version >/dev/null 2>&1; then
    cargo clippy --workspace --all-targets -- -D warnings
else
    echo "clippy is not installed: skipping lints"
fi

# ---------------------------------------------------------------------------------------------------------
section "Throwaway PostgreSQL"
pg_throwaway_start # exports LABLEDGER_TEST_PG_ADMIN_URL; an EXIT trap stops the cluster

# ---------------------------------------------------------------------------------------------------------
section "Tests: SQLite (cargo test --workspace)"
LABLEDGER_TEST_ENGINE=sqlite cargo test --workspace

# ---------------------------------------------------------------------------------------------------------
# --workspace --tests: the same package set, hence the same feature resolution and the same binaries as the
# run above (no rebuild), so engine-dependent tests in any crate run against PostgreSQL; doctests are skipped.
section "Tests: PostgreSQL (cargo test --workspace --tests)"
LABLEDGER_TEST_ENGINE=postgres cargo test --workspace --tests

# ---------------------------------------------------------------------------------------------------------
# Schemathesis over the whole OpenAPI document against a real server (SQLite, a real SMTP relay, an API
# token holding every permission): any finding fails the run. Bounded: about two minutes on 2 cores.
section "Schemathesis (scripts/schemathesis.sh)"
"$ROOT/scripts/schemathesis.sh"

# ---------------------------------------------------------------------------------------------------------
# testssl.sh against `serve --tls-cert`: nothing above LOW. About a minute.
section "TLS scan (scripts/testssl.sh)"
"$ROOT/scripts/testssl.sh" "$ROOT/target/debug/labledger"

section "All checks passed"
