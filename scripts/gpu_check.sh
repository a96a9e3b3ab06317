#!/usr/bin/env bash
# make gpu-check: what to run first whenever a GPU is available. On a CUDA machine: the GPU tests
# (pytest -m gpu), the tiny profile end to end with device: cuda, and the benchmark of every network size
# of config/config.yaml (eager and bf16, then torch.compile with and without bf16 in the time left), then
# one summary file. Each part has its own timeout, so the whole stays under 8 minutes; the benchmark
# rewrites its CSV after every size, so a part cut short still reports the sizes it finished.
# Without CUDA it says so and exits 0.
set -uo pipefail
PY=${PY:-.venv/bin/python}
OUT=${OUT:-results/gpu_check}
BUDGET_S=${BUDGET_S:-450}  # seconds for all parts; timeouts below leave 10 s each to kill
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu-check: PyTorch sees no CUDA device on this machine; nothing to check (exit 0)."
    exit 0
fi
mkdir -p "$OUT"
start=$(date +%s)
left() { local s=$((BUDGET_S - ($(date +%s) - start))); echo $((s > 30 ? s : 30)); }
"$PY" -c "import torch; print(torch.cuda.get_device_name(0), 'CUDA', torch.version.cuda, 'torch', torch.__version__)" \
    > "$OUT/device.txt"
echo "gpu-check on $(cat "$OUT/device.txt"): GPU tests ..."
timeout -k 10 150 "$PY" -m pytest -m gpu -q -rs -p no:cacheprovider tests/test_gpu.py > "$OUT/pytest.txt" 2>&1; tests=$?
echo "gpu-check: tiny profile on cuda ..."
timeout -k 10 150 "$PY" -m snakemake --snakefile Snakefile --configfile config/tiny.yaml --config device=cuda \
    --directory "$OUT/tiny" --cores 4 --quiet > "$OUT/tiny.log" 2>&1; tiny=$?
echo "gpu-check: benchmark, eager and bf16 ..."
timeout -k 10 75 "$PY" -m ncsn bench --configs config/config.yaml --device cuda --bf16 --rounds 3 \
    --csv "$OUT/bench.csv" > "$OUT/bench.txt" 2> "$OUT/bench.log"; bench=$?
echo "gpu-check: benchmark, torch.compile (eager and bf16), $(left) s left ..."
timeout -k 10 "$(left)" "$PY" -m ncsn bench --configs config/config.yaml --device cuda --compile --bf16 --rounds 3 \
    --csv "$OUT/bench_compile.csv" > "$OUT/bench_compile.txt" 2> "$OUT/bench_compile.log"; compiled=$?
"$PY" - "$OUT" "$tests" "$tiny" "$bench" "$compiled" "$start" <<'PYEOF'
import csv, json, sys, time
from pathlib import Path
out, (tests, tiny, bench, compiled, start) = Path(sys.argv[1]), map(int, sys.argv[2:])

def rows(name):
    path = out / name
    if not path.exists():
        return []
    keys = ("arch", "width", "dropout", "network", "peak_mib", "train_images_per_s", "sample_evals_per_s", "compile_s")
    with open(path) as fh:
        return [{k: r[k] for k in keys if r.get(k)} for r in csv.DictReader(fh)]

summary = {
    "device": (out / "device.txt").read_text().strip(),
    "seconds": round(time.time() - start),
    "exit": {"gpu_tests": tests, "tiny_profile": tiny, "bench": bench, "bench_compile": compiled},
    "gpu_tests": (out / "pytest.txt").read_text().strip().splitlines()[-1:],
    "bench": rows("bench.csv"),
    "bench_compile": rows("bench_compile.csv"),
}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps({k: v for k, v in summary.items() if not k.startswith("bench")}, indent=2))
for name in ("bench.txt", "bench_compile.txt"):
    print((out / name).read_text() if (out / name).exists() else "")
print(f"wrote {out / 'summary.json'} (exit codes: 124 = cut by its timeout)")
PYEOF
[ "$tests" -eq 0 ] && [ "$tiny" -eq 0 ] && [ "$bench" -eq 0 ] && [ "$compiled" -eq 0 ]
