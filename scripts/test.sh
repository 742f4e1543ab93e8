#!/usr/bin/env bash
# Runs every test of the repository: the one command, on a fresh Debian 12 machine too.
#
#   scripts/test.sh
#
# It installs what is missing (python3 / python3-venv, and chromium / chromium-driver for the
# console's browser tests, through apt-get; the Python test packages into ./.venv), builds the
# workspace, runs `cargo test --workspace`, then the Python end-to-end suite in tests/python against the freshly built `pier` binary. Exits non-zero if any step fails.
#
# Environment:
#   CARGO_TARGET_DIR  honoured (the pier binary is looked up there)
#   PIER_VENV         virtualenv to use (default: <repo>/.venv)
#   PYTEST_ARGS       extra arguments for pytest (e.g. "-x -k push")
set -euo pipefail

cd "$(dirname "$0")/.."
REPO="$(pwd)"
VENV="${PIER_VENV:-$REPO/.venv}"

section() { printf '\n==== %s ====\n' "$*"; }
die() { printf 'scripts/test.sh: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT_UPDATED=""
apt_install() {
    command -v apt-get >/dev/null || die "need to install $* but apt-get is not available"
    if [ -z "$APT_UPDATED" ]; then
        $SUDO apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

# ------------------------------------------------------------------------------------------------
section "toolchain"
command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain (rustup) first"
cargo --version
if ! command -v python3 >/dev/null; then
    apt_install python3 python3-venv
fi
python3 --version
# The console tests drive Debian's headless Chromium through its chromedriver, at these fixed paths.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    apt_install chromium chromium-driver
fi

# ------------------------------------------------------------------------------------------------
section "python test environment ($VENV)"
if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "existing virtualenv is broken; recreating it"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    probe="$(mktemp -d)"
    if ! python3 -m venv "$probe/v" >/dev/null 2>&1; then
        echo "python3 -m venv does not work here; installing python3-venv"
        py_minor="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        apt_install python3-venv || apt_install "python${py_minor}-venv"
    fi
    rm -rf "$probe"
    python3 -m venv "$VENV"
fi
REQS="tests/python/requirements.txt"
STAMP="$VENV/.pier-requirements.sha256"
want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS"
    echo "$want" >"$STAMP"
fi
"$VENV/bin/python" -m pytest --version

# ------------------------------------------------------------------------------------------------
# Service fixtures (MariaDB, NATS, ...) for later test suites go here: install them when missing
# and start them for the duration of the run (with a trap that stops them). None are needed yet.
# section "service fixtures"
# ------------------------------------------------------------------------------------------------

section "cargo build --workspace --all-targets"
cargo build --workspace --all-targets

TARGET_DIR="$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null || true)"
if [ -z "$TARGET_DIR" ]; then
    TARGET_DIR="${CARGO_TARGET_DIR:-target}"
fi
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$REPO/$TARGET_DIR" ;; esac
PIER_BIN="$TARGET_DIR/debug/pier"
[ -x "$PIER_BIN" ] || die "pier binary not found at $PIER_BIN after the build"
echo "pier binary: $PIER_BIN"

# ------------------------------------------------------------------------------------------------
section "cargo test --workspace"
cargo test --workspace

# ------------------------------------------------------------------------------------------------
section "python end-to-end tests (tests/python; console screenshots in target/console-screenshots)"
# shellcheck disable=SC2086  # PYTEST_ARGS is a list of words on purpose
PIER_BIN="$PIER_BIN" "$VENV/bin/python" -m pytest -q tests/python ${PYTEST_ARGS:-}

section "all tests passed"
