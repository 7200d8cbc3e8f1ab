#!/usr/bin/env bash
# The speed-run figures: `cnnlab train --recipe speedrun` for seeds 0 1 2, wall time of the whole command
# (start-up, data loading, training, every evaluation, checkpoints, plot) and final test accuracy.
set -euo pipefail
CNNLAB=${CNNLAB:-cnnlab}
out=$(mktemp -d)
for seed in ${SEEDS:-0 1 2}; do
    start=$(date +%s.%N)
    $CNNLAB train --recipe speedrun --seed "$seed" --out "$out/seed$seed" 2>/dev/null | tail -1
    end=$(date +%s.%N)
    acc=$(tail -1 "$out/seed$seed/metrics.csv" | cut -d, -f5)
    printf 'seed %s: test accuracy %.4f, wall %.1f s\n' "$seed" "$acc" "$(echo "$end - $start" | bc)"
done
rm -rf "$out"
