#!/usr/bin/env bash
# make gpu-check: what to run first whenever a GPU is available. On a CUDA machine: the GPU tests
# (pytest -m gpu), the tiny profile end to end with device: cuda, and the benchmark of every network size
# of config/config.yaml (eager, compile), then one summary file. Without CUDA it says so and exits 0.
set -uo pipefail
PY=${PY:-.venv/bin/python}
OUT=${OUT:-results/gpu_check}
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu-check: PyTorch sees no CUDA device on this machine; nothing to check (exit 0)."
    exit 0
fi
mkdir -p "$OUT"
start=$(date +%s)
"$PY" -c "import torch; print(torch.cuda.get_device_name(0), torch.version.cuda)" > "$OUT/device.txt"
timeout 180 "$PY" -m pytest -m gpu -q -rs tests/test_gpu.py > "$OUT/pytest.txt" 2>&1; tests=$?
timeout 180 "$PY" -m snakemake --snakefile Snakefile --configfile config/tiny.yaml --config device=cuda \
    --directory "$OUT/tiny" --cores 4 --quiet > "$OUT/tiny.log" 2>&1; tiny=$?
timeout 120 "$PY" -m ncsn bench --configs config/config.yaml --device cuda --compile --rounds 3 \
    --csv "$OUT/bench.csv" > "$OUT/bench.txt" 2>&1; bench=$?
"$PY" - "$OUT" "$tests" "$tiny" "$bench" "$start" <<'PYEOF'
import json, sys, time
from pathlib import Path
out, tests, tiny, bench, start = Path(sys.argv[1]), *map(int, sys.argv[2:])
summary = {"device": (out / "device.txt").read_text().strip(), "seconds": round(time.time() - start),
           "gpu_tests_exit": tests, "gpu_tests": (out / "pytest.txt").read_text().strip().splitlines()[-1:],
           "tiny_profile_exit": tiny, "bench_exit": bench,
           "bench": (out / "bench.txt").read_text() if (out / "bench.txt").exists() else ""}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps({k: v for k, v in summary.items() if k != "bench"}, indent=2))
print(summary["bench"])
PYEOF
[ "$tests" -eq 0 ] && [ "$tiny" -eq 0 ] && [ "$bench" -eq 0 ]
