#!/usr/bin/env bash
# The main job on the embedded default: train the `cpu` preset on the chest X-ray training normals
# (from the asset cache) and write the report. About 10 minutes on a 2-core machine with the wasm
# backend. With data/chest-xray/val/ (the shared copy: 125 images, 20 % of the official test split)
# the run validates on val/ (epoch, β, threshold) and scores it: the printed AUROC says those were
# chosen on these images, and the 5-fold cross-validation inside val/ beside it is the honest
# estimate. Without val/, a split carved from the training images is held out (never trained on).
# β (the flow/SSIM mix of the score) is chosen on validation (--beta auto). Extra arguments go to
# aeflow-train (a later --beta wins).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${AEFLOW_HOME:-}" ] && [ -d ../shared/data/chest-xray ]; then
  export AEFLOW_HOME="$(cd ../shared && pwd)"
fi
data="${AEFLOW_HOME:-$HOME/.cache/aeflow}/data/chest-xray"
if [ ! -d "$data/train" ]; then
  echo "demo: no chest X-ray data at $data/train." >&2
  echo "      Put Kermany et al.'s chest X-ray images there (train/NORMAL, train/PNEUMONIA), or set" >&2
  echo "      AEFLOW_HOME to a folder holding data/chest-xray/train." >&2
  exit 1
fi
out="runs/chest-$(date -u +%Y%m%d-%H%M%S)"
pnpm exec turbo run build --output-logs=errors-only
node apps/trainer/dist/cli.js --data "$data" --dataset chest-xray --out "$out" --max-minutes 8 --beta auto "$@"
echo "demo: report at $out/report.html (metrics in $out/metrics.json)"
