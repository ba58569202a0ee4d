#!/usr/bin/env bash
# The GPU path at the 8B's full size, on random weights (issue #14, item 5). Not part of CI.
#
#   bash scripts/setup.sh --gpu && bash scripts/gpu_check.sh [WORK_DIR] [OUT_JSON]
#
# On a CUDA machine: makes the 32-layer synthetic Llama-3.1-8B (`kizami standin synth`), builds GPTQ and AWQ w4g128
# on cuda, GGUF Q4_K_M (imatrix) with the CUDA llama.cpp that `setup.sh --gpu` builds, ONNX int4 for cuda; then
# measures batch-1 prefill and decode tokens/s (`kizami eval --tasks speed,size --device cuda`: 128-token prompt,
# 32 decoded tokens, median of 3 after a warm-up) and peak GPU memory of each build and of bf16, and writes JSON.
# It also runs bench/batch.py: generation at batch 1, 8 and 16 against one request at a time (goal: >= 10 x for bf16
# through torch at batch 16, same greedy ids).
# The goal it checks: 4-bit GPTQ and AWQ decode at least 2.5 x bf16 decode (the memory-bound roofline is about 3 x:
# 16 GiB of bf16 weights read per token against about 5.7 GiB). Exit 0 when the goal holds, 3 when it does not,
# anything else when a step failed.
#
# Random weights measure time, memory and plumbing, never quality: no quality figure is taken here.
# Environment: LAYERS (default 32), CALIB_ROWS (default 128), SEQ_LEN (512), GPU (cuda:0).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
K="$ROOT/.venv/bin/kizami"
PY="$ROOT/.venv/bin/python"
W="${1:-$ROOT/../gpu-check}"
OUT="${2:-$W/gpu_check.json}"
LAYERS="${LAYERS:-32}"
ROWS="${CALIB_ROWS:-128}"
SEQ="${SEQ_LEN:-512}"
DEV="${GPU:-cuda:0}"
GOAL=2.5

command -v nvidia-smi >/dev/null || { echo "gpu_check: no nvidia-smi: this needs a CUDA machine" >&2; exit 2; }
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
  || { echo "gpu_check: torch sees no CUDA device; run bash scripts/setup.sh --gpu on a CUDA machine" >&2; exit 2; }
"$PY" -c "import onnxruntime as o, sys; sys.exit(0 if 'CUDAExecutionProvider' in o.get_available_providers() else 1)" \
  || { echo "gpu_check: onnxruntime has no CUDA provider; run bash scripts/setup.sh --gpu" >&2; exit 2; }
mkdir -p "$W/logs"
SRC="$W/synth-$LAYERS" CALIB="$W/calib"
step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }

# the step's wall seconds go to $W/logs/NAME.time; its output to $W/logs/NAME.log (and the terminal)
timed() {
  local name=$1; shift
  step "$name"
  local t0; t0=$(date +%s.%N)
  "$@" 2>&1 | tee "$W/logs/$name.log"
  "$PY" -c "import sys; print(round(float(sys.argv[1]) - float(sys.argv[2]), 1))" "$(date +%s.%N)" "$t0" > "$W/logs/$name.time"
}

# peak GPU memory while a command runs: nvidia-smi polled every 0.2 s, minus what was in use before it started
with_gpu_peak() {
  local name=$1; shift
  local idx="${DEV#cuda:}"; [ "$idx" = cuda ] && idx=0
  local base; base=$(nvidia-smi -i "$idx" --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
  ( peak=0; while :; do v=$(nvidia-smi -i "$idx" --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
      [ "$v" -gt "$peak" ] && peak=$v && echo $((peak - base)) > "$W/logs/$name.gpu_mib"; sleep 0.2; done ) &
  local poller=$!
  local rc=0
  timed "$name" "$@" || rc=$?
  kill "$poller" 2>/dev/null || true; wait "$poller" 2>/dev/null || true
  return $rc
}

[ -d "$SRC" ] || timed synth "$K" standin synth -o "$SRC" --shape llama-3.1-8b --layers "$LAYERS"
[ -d "$CALIB" ] || timed calib "$K" calib build -o "$CALIB" --tokenizer "$SRC" --samples "$ROWS" --seq-len "$SEQ"
# each build is resumable: a complete one is skipped by kizami itself
with_gpu_peak build-gptq "$K" quantize gptq "$SRC" -o "$W/gptq-w4g128" --calib "$CALIB" --device "$DEV"
with_gpu_peak build-awq "$K" quantize awq "$SRC" -o "$W/awq-w4g128" --calib "$CALIB" --device "$DEV"
timed build-gguf "$K" export gguf "$SRC" -o "$W/gguf" --types q4_k_m --calib "$CALIB"
with_gpu_peak build-onnx "$K" export onnx "$SRC" -o "$W/onnx-int4-cuda" --precision int4 --target cuda

# batch-1 speed and peak GPU memory, bf16 first (the reference is computed once, on a few held-out tokens)
EV=(--data "$CALIB" --ref "$SRC" --tasks speed,size --device cuda --max-tokens 512 --fim-limit 1)
declare -A BUILDS=([bf16]="$SRC" [gptq-w4g128]="$W/gptq-w4g128" [awq-w4g128]="$W/awq-w4g128"
                   [gguf-q4_k_m]="$W/gguf/Q4_K_M" [onnx-int4-cuda]="$W/onnx-int4-cuda")
for name in bf16 gptq-w4g128 awq-w4g128 gguf-q4_k_m onnx-int4-cuda; do
  with_gpu_peak "eval-$name" "$K" eval "${BUILDS[$name]}" "${EV[@]}" -o "$W/eval-$name.json"
done

# batched generation (#25): bf16 through torch at batch 1, 8 and 16 against batch 1 (one call of B requests against B
# calls), and the GGUF through CUDA llama.cpp; bench/batch.py checks greedy ids match and writes its own JSON
timed batch "$PY" "$ROOT/bench/batch.py" --device cuda --batches 1,8,16 --repeats 3 -o "$W/batch.json" \
  --build "bf16=$SRC" --build "gguf-q4_k_m=$W/gguf/Q4_K_M"

"$PY" - "$W" "$OUT" "$GOAL" "$LAYERS" <<'EOF'
import json, subprocess, sys
from pathlib import Path

w, out, goal, layers = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
def num(p):
    return float(p.read_text()) if p.is_file() else None
rows = {}
for name in ("bf16", "gptq-w4g128", "awq-w4g128", "gguf-q4_k_m", "onnx-int4-cuda"):
    r = json.loads((w / f"eval-{name}.json").read_text())
    sp = r["speed"]
    rows[name] = {"prefill_tok_s": sp["prefill_tok_s"]["median"], "decode_tok_s": sp["decode_tok_s"]["median"],
                  "ttft_s": sp["ttft_s"]["median"], "device": r["environment"]["device"],
                  "peak_gpu_mib_engine": sp.get("memory", {}).get("peak_gpu_mib"),
                  "peak_gpu_mib_eval": num(w / "logs" / f"eval-{name}.gpu_mib"),
                  "size_gib": r.get("size", {}).get("bytes", 0) / 2**30 or None}
base = rows["bf16"]["decode_tok_s"]
for r in rows.values():
    r["decode_vs_bf16"] = r["decode_tok_s"] / base
    r["prefill_vs_bf16"] = r["prefill_tok_s"] / rows["bf16"]["prefill_tok_s"]
builds = {s: {"wall_s": num(w / "logs" / f"build-{s}.time"), "peak_gpu_mib": num(w / "logs" / f"build-{s}.gpu_mib")}
          for s in ("gptq", "awq", "gguf", "onnx")}
ok = all(rows[n]["decode_vs_bf16"] >= goal for n in ("gptq-w4g128", "awq-w4g128"))
batch = json.loads((w / "batch.json").read_text())["rows"]
torch16 = next(r for r in batch if r["build"] == "bf16" and r["batch"] == 16)
ok = ok and torch16["speedup"] >= 10 and torch16["differing"] == 0  # the batching goal on a GPU: >= 10 x at batch 16
try:
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True).stdout.strip()
except OSError:
    gpu = "unknown"
res = {"gpu": gpu, "layers": layers, "goal": f"GPTQ and AWQ decode >= {goal} x bf16 (batch 1)", "goal_met": ok,
       "speed": rows, "builds": builds, "batched": batch,
       "batch_goal": "bf16 through torch: one call of 16 requests >= 10 x 16 calls of one, same greedy ids",
       "note": "random weights: time, memory and plumbing only, never quality"}
out.write_text(json.dumps(res, indent=2) + "\n")
print(f"{'build':16} {'prefill tok/s':>14} {'decode tok/s':>13} {'x bf16':>7} {'peak GPU MiB':>13}")
for n, r in rows.items():
    print(f"{n:16} {r['prefill_tok_s']:14.1f} {r['decode_tok_s']:13.1f} {r['decode_vs_bf16']:7.2f} "
          f"{r['peak_gpu_mib_eval'] or float('nan'):13.0f}")
print(f"goal ({res['goal']}): {'met' if ok else 'NOT met'}; wrote {out}")
sys.exit(0 if ok else 3)
EOF
