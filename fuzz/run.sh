#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 30), starting from its
# kept seed corpus (corpus/TARGET/, left unchanged: new inputs go to a scratch
# directory). Fails on the first crash; the crashing input is in artifacts/TARGET/.
# Works on stable Rust through RUSTC_BOOTSTRAP=1 (cargo-fuzz needs nightly flags).
set -euo pipefail
seconds="${1:-30}"
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
cargo fuzz build --release
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo fuzz list); do
    echo "== fuzz $target for ${seconds}s"
    mkdir -p "corpus/$target" "$scratch/$target"
    cargo fuzz run --release "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1
done
