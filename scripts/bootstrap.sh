#!/usr/bin/env bash
# Installs what the repository needs on a fresh machine: pnpm (the version package.json pins),
# then the workspace from the lockfile. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(node -p "require('./package.json').packageManager.split('@')[1]")
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "aeflow needs Node.js >= 20 (found $(node --version))" >&2
  exit 1
fi
if [ "$(pnpm --version 2>/dev/null || true)" != "$want" ]; then
  echo "bootstrap: installing pnpm@$want" >&2
  npm install --global --no-audit --no-fund "pnpm@$want" >/dev/null
fi
# The browser tests (packages/web) drive Debian's Chromium. Install it where this script may (root with
# apt-get, AEFLOW_NO_CHROMIUM unset); elsewhere those tests skip and say why.
if ! command -v chromium >/dev/null 2>&1 && [ -z "${AEFLOW_NO_CHROMIUM:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "bootstrap: installing chromium (for the @aeflow/web browser tests)" >&2
  { apt-get install -y chromium >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y chromium >/dev/null 2>&1; }; } \
    || echo "bootstrap: could not install chromium; the browser tests will skip" >&2
fi
# The queue tests (@aeflow/queue, aeflow-score worker/submit) start Debian's redis-server on a free
# port. Install it where this script may (root with apt-get, AEFLOW_NO_REDIS unset); elsewhere
# those tests skip and say why. Installing the package may start a system Redis on 6379: the tests
# never use it.
if ! command -v redis-server >/dev/null 2>&1 && [ -z "${AEFLOW_NO_REDIS:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "bootstrap: installing redis-server (for the queue tests)" >&2
  { apt-get install -y redis-server >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y redis-server >/dev/null 2>&1; }; } \
    || echo "bootstrap: could not install redis-server; the queue tests will skip" >&2
fi
# @tensorflow/tfjs-node is optional: where its install script cannot download libtensorflow the
# install still succeeds, and the runtime falls back to the wasm backend.
pnpm install --frozen-lockfile
