#!/usr/bin/env bash
# The browser the portal's browser tests drive: Debian's chromium and its chromedriver, from apt.
# Idempotent: nothing is done when both are installed. Needs root (or sudo) the first time.
# Tools that download their own browser build cannot reach their hosts here, so Selenium is
# pointed at these two binaries (tests/integration/test_portal_browser.py).
set -euo pipefail

say() { echo "[browser] $*"; }
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if [[ "$(id -u)" == 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "error: the browser tests need Debian's chromium and chromium-driver; as root: apt-get install chromium chromium-driver" >&2
    exit 1
fi
say "installing chromium and chromium-driver from apt (the browser tests drive them)"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq || say "apt-get update failed; trying the package lists already here"
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
say "$(chromium --version 2>/dev/null || echo chromium installed)"
