#!/usr/bin/env bash
# Set up everything the project needs, idempotently, with caches:
#   1. uv at a pinned version (installed into the cache if the machine's differs),
#   2. the Python environment .venv from uv.lock,
#   3. `lake install`: the weed S3 server (Go module proxy), Trino and the Spark
#      jars (Maven Central), all cached under ~/.cache/lakehouse.
# A second run takes seconds. A missing system tool stops it with what to install.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UV_VERSION="0.13.8"
CACHE="${LAKE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lakehouse}"

say() { echo "[bootstrap] $*"; }
fail() { echo "error: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "\`$1\` is not installed. $2"; }

need python3 "Install Python 3.11 (e.g. with pyenv, or your distribution's python3.11)."
need java "Install a JDK 17 for Spark: apt-get install openjdk-17-jdk-headless"
need mvn "Install Maven, which fetches Trino and the Spark jars from Maven Central: apt-get install maven"
need go "Install Go 1.26+, which builds the SeaweedFS S3 server: apt-get install golang (or the machine's Go)"
need tar "Install tar: apt-get install tar"

# uv, pinned
UV="$(command -v uv || true)"
if [[ -z "$UV" || "$("$UV" --version 2>/dev/null | awk '{print $2}')" != "$UV_VERSION" ]]; then
    UV="$CACHE/tools/uv-$UV_VERSION/bin/uv"
    if [[ ! -x "$UV" ]]; then
        say "installing uv $UV_VERSION into $CACHE/tools (from PyPI)"
        python3 -m venv "$CACHE/tools/uv-$UV_VERSION"
        "$CACHE/tools/uv-$UV_VERSION/bin/pip" install --quiet "uv==$UV_VERSION"
    fi
fi

# the Python environment, exactly as locked
cd "$ROOT"
say "syncing .venv from uv.lock"
"$UV" sync --frozen --quiet --compile-bytecode || fail "uv sync failed; is a Python 3.11 interpreter installed? (uv looks for one on PATH)"

# binaries and jars
.venv/bin/lake install
say "ready"
