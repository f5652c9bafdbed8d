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
# @tensorflow/tfjs-node is optional: where its install script cannot download libtensorflow the
# install still succeeds, and the runtime falls back to the wasm backend.
pnpm install --frozen-lockfile
