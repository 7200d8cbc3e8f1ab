#!/usr/bin/env bash
# The speed-run figures: `cnnlab train --recipe speedrun` for seeds 0 1 2, wall time of the whole command
# (start-up, data loading, training, every evaluation, checkpoints, plot), training time alone (the sum of the
# epochs' seconds in metrics.csv) and final test accuracy; then the median wall time and the accuracy mean.
# Arguments are passed on to `cnnlab train` (e.g. --epochs 6).
set -euo pipefail
CNNLAB=${CNNLAB:-cnnlab}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for seed in ${SEEDS:-0 1 2}; do
    start=$(date +%s.%N)
    if ! $CNNLAB train --recipe speedrun --seed "$seed" --out "$out/seed$seed" "$@" >/dev/null 2>"$out/stderr"; then
        echo "speedrun.sh: cnnlab train failed for seed $seed: $(tail -1 "$out/stderr")" >&2
        exit 1
    fi
    end=$(date +%s.%N)
    echo "$seed $(echo "$end - $start" | bc)" >> "$out/walls"
done
python3 - "$out" <<'PY'
import csv, statistics, sys
from pathlib import Path
out = Path(sys.argv[1])
walls, accs = [], []
for line in (out / "walls").read_text().splitlines():
    seed, wall = line.split()
    rows = list(csv.DictReader(open(out / f"seed{seed}" / "metrics.csv")))
    train = sum(float(r["seconds"]) for r in rows)
    acc = float(rows[-1]["test_acc"])
    walls.append(float(wall)); accs.append(acc)
    print(f"seed {seed}: test accuracy {acc:.4f}, wall {float(wall):.1f} s (training {train:.1f} s)")
spread = f", sd {statistics.stdev(accs):.4f}" if len(accs) > 1 else ""
print(f"median wall {statistics.median(walls):.1f} s (min {min(walls):.1f}, max {max(walls):.1f}); "
      f"accuracy mean {statistics.mean(accs):.4f}{spread} (min {min(accs):.4f}, max {max(accs):.4f})")
PY
