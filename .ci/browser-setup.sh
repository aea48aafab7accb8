#!/usr/bin/env bash
# Browser tests (issue 15 items 5 and 6): Debian's Chromium and its driver (never a browser
# downloaded by a tool) and axe-core from npm for the accessibility check, installed outside
# the checkout in ~/.cache/pgo-sandbox/axe (tests/browser/test_accessibility.py reads it there,
# or from $PGO_SANDBOX_AXE). Idempotent: a second run only prints the versions.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
AXE_VERSION=4.10.2
AXE_DIR="${PGO_SANDBOX_AXE_DIR:-$HOME/.cache/pgo-sandbox/axe}"

start=$(date +%s)
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
if ! command -v npm >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
if [ ! -f "$AXE_DIR/node_modules/axe-core/axe.min.js" ]; then
    mkdir -p "$AXE_DIR"
    npm install --silent --no-audit --no-fund --prefix "$AXE_DIR" "axe-core@$AXE_VERSION" >/dev/null
fi
echo "ci: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), axe-core" \
     "$(node -p "require('$AXE_DIR/node_modules/axe-core/package.json').version")" \
     "ready in $(( $(date +%s) - start )) s"
