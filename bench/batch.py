"""Generation throughput at batch 1, 4, 8, 16 through kizami's Backend, against each engine's own batched loop.

For each build: ``B`` greedy requests (``--prompt`` token prompts, ``--new`` new tokens each) as ONE ``generate()``
call at ``batch_size`` B, against the same requests as B calls at ``batch_size`` 1. Reported: generated tokens/s of
each (median of ``--repeats`` after a warm-up, threads pinned), the speed-up, and how many of the B greedy
completions differ from batch 1. Beside it, the engine's own batched throughput on the same shapes, with no kizami in
the loop: transformers' ``generate`` on a (B, prompt) batch, llama.cpp's ``llama-batched-bench`` (new tokens over
its prompt-processing plus generation time), onnxruntime-genai's generator loop at ``batch_size`` B; and kizami's share of it.

    python bench/batch.py --threads 2 -o bench/results/batch.json \\
        --build torch-standin=tiny-fcj --build gguf-standin=/work/bench/standin-gguf/Q4_K_M \\
        --build torch-synth2=/work/bench/synth2 --build gguf-synth2=/work/bench/gguf2/Q4_K_M ...

With ``--extrapolate NAME1=L1,NAME2=L2`` (two builds of one engine at L1 and L2 layers of the full-width synthetic
8B, from ``kizami standin synth --layers``), the per-token time is fitted as ``fixed + per_layer x layers`` at each
batch size and the 32-layer rate predicts the wall time of HumanEval: 164 problems x ``--samples`` completions x
``--tokens-per-completion`` tokens (an assumption, stated in the output: a real completion's length is not known
here). Random weights measure time only, never quality.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from kizami.runtime import build_format, open_build
from kizami.runtime.backend import GenRequest
from kizami.standin import resolve_model

HUMANEVAL_PROBLEMS = 164


def _prompts(backend: Any, n: int, length: int) -> list[list[int]]:
    """``n`` distinct prompts of ``length`` ids from held-out-like code text (in the build's own tokenizer)."""
    text = (resources.files("kizami.calib_data") / "builtin/code/python/route_search.py").read_text(encoding="utf-8")
    ids = backend.tokenize([text * 4])[0]
    return [ids[i * 13:i * 13 + length] for i in range(n)]


def _timed(fn: Any, repeats: int) -> tuple[float, Any]:
    fn()  # warm-up
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def kizami_rates(backend: Any, prompts: list[list[int]], new: int, repeats: int) -> dict[str, Any]:
    reqs = [GenRequest(prompt=p, max_new_tokens=new) for p in prompts]

    def one_call() -> list[Any]:
        backend.batch_size = len(reqs)
        return backend.generate(reqs)

    def one_by_one() -> list[Any]:
        backend.batch_size = 1
        return [backend.generate([r])[0] for r in reqs]

    t_batch, batched = _timed(one_call, repeats)
    t_single, single = _timed(one_by_one, repeats)
    tokens = sum(len(g.ids) for g in batched)
    return {"batch": len(reqs), "tokens": tokens, "batched_tok_s": tokens / t_batch,
            "single_tok_s": sum(len(g.ids) for g in single) / t_single, "speedup": t_single / t_batch,
            "differing": sum(a.ids != b.ids for a, b in zip(batched, single))}


def engine_rate(backend: Any, prompts: list[list[int]], new: int, repeats: int, threads: int) -> float | None:
    """Tokens/s of the engine's own batched greedy loop on the same shapes (None where there is none to run)."""
    name = backend.name
    if name == "torch":
        import torch

        x = torch.tensor(prompts, device=backend.device)
        gen_kw = {"max_new_tokens": new, "min_new_tokens": new, "do_sample": False, "pad_token_id": 0}

        @torch.inference_mode()
        def run() -> None:
            backend.model.generate(input_ids=x, attention_mask=torch.ones_like(x), **gen_kw)

        return len(prompts) * new / _timed(run, repeats)[0]
    if name == "onnx":
        og = backend._og

        def run_og() -> None:
            params = og.GeneratorParams(backend.model)
            params.set_search_options(max_length=len(prompts[0]) + new, batch_size=len(prompts))
            gen = og.Generator(backend.model, params)
            gen.append_tokens(np.asarray(prompts, dtype=np.int32))
            for _ in range(new):
                gen.generate_next_token()

        return len(prompts) * new / _timed(run_og, repeats)[0]
    if name == "llama-cpp":
        from kizami.core import toolchain

        tool = toolchain.find().tool("llama-batched-bench")
        n = len(prompts)
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [str(tool), "-m", str(backend.file), "-c", str(max(2048, n * (len(prompts[0]) + new) + 256)),
                   "-b", "512", "-ub", "512", "-npp", str(len(prompts[0])), "-ntg", str(new), "-npl", str(n),
                   "-t", str(threads), "--output-format", "jsonl"]
            rates: list[float] = []
            tries = 0
            while len(rates) < repeats + 1:  # the first is a warm-up
                out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, check=True).stdout
                rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
                tries += 1
                if rows:
                    # new tokens over prompt processing + generation, as kizami's rate is counted (speed_tg alone
                    # leaves out the prompts, which kizami's wall time includes)
                    row = rows[-1]
                    rates.append(n * new / (float(row["t_pp"]) + float(row["t_tg"])))
                elif tries > 3 * (repeats + 1):  # it exits 0 with nothing written now and then (seen 1 run in 5)
                    raise RuntimeError(f"llama-batched-bench wrote no result in {tries} runs: {' '.join(cmd)}")
        return statistics.median(rates[1:])
    return None


def fit_humaneval(rows: list[dict[str, Any]], pairs: dict[str, tuple[str, str, int, int]], samples: int,
                  tokens_per: int) -> list[dict[str, Any]]:
    """Per engine and batch size: seconds per generated token at L1 and L2 layers -> fixed + per_layer x 32."""
    out = []
    for engine, (a, b, la, lb) in pairs.items():
        for batch in sorted({r["batch"] for r in rows if r["build"] == a}):
            ra = next(r for r in rows if r["build"] == a and r["batch"] == batch)
            rb = next(r for r in rows if r["build"] == b and r["batch"] == batch)
            sa, sb = 1 / ra["batched_tok_s"], 1 / rb["batched_tok_s"]
            per_layer = (sb - sa) / (lb - la)
            tokens = HUMANEVAL_PROBLEMS * samples * tokens_per
            row = {"engine": engine, "batch": batch, "samples": samples, "tokens_per_completion": tokens_per,
                   "seconds_per_token_per_layer": per_layer}
            if per_layer <= 0:  # the second layer measured no slower: the difference is below the timing noise
                out.append({**row, "tok_s_32_layers": None, "humaneval_hours": None,
                            "note": "per-layer time below the noise of this measurement; no extrapolation"})
                continue
            s32 = sa + per_layer * (32 - la)
            out.append({**row, "tok_s_32_layers": 1 / s32, "humaneval_hours": tokens * s32 / 3600})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", action="append", required=True, help="NAME=PATH (a build, an HF folder or tiny-fcj)")
    ap.add_argument("--batches", default="1,4,8,16")
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--new", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (torch and onnx builds; llama.cpp offloads on cuda)")
    ap.add_argument("--dtype", default="auto", help="torch builds: auto (fp32 on a CPU where the upcast fits), bf16, fp32")
    ap.add_argument("--extrapolate", action="append", default=[],
                    help="ENGINE:NAME1=L1,NAME2=L2 — two builds of one engine at L1 and L2 synthetic layers")
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--tokens-per-completion", type=int, default=100)
    ap.add_argument("-o", "--out", type=Path)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    batches = [int(b) for b in args.batches.split(",")]
    rows = []
    for spec in args.build:
        name, path = spec.split("=", 1)
        path = str(resolve_model(path)) if not Path(path).exists() else path
        torch_opts = {"dtype": args.dtype} if build_format(Path(path)) == "hf" and args.dtype != "auto" else {}
        backend = open_build(Path(path), threads=args.threads, device=args.device, **torch_opts)
        for batch in batches:
            prompts = _prompts(backend, batch, args.prompt)
            row = {"build": name, "path": path, "engine": backend.name, "format": build_format(Path(path)),
                   "dtype": getattr(backend, "dtype", None),
                   **kizami_rates(backend, prompts, args.new, args.repeats)}
            own = engine_rate(backend, prompts, args.new, args.repeats, args.threads)
            row |= {"engine_tok_s": own, "share_of_engine": row["batched_tok_s"] / own if own else None}
            rows.append(row)
            print(f"{name:<16} B={batch:<3} kizami {row['batched_tok_s']:8.1f} tok/s (x{row['speedup']:.2f} vs one at a "
                  f"time, {row['differing']} differ)  engine {own or float('nan'):8.1f} tok/s  "
                  f"share {row['share_of_engine'] or float('nan'):.2f}", flush=True)
        backend.close()
    pairs = {}
    for spec in args.extrapolate:
        engine, rest = spec.split(":", 1)
        (a, la), (b, lb) = (x.split("=") for x in rest.split(","))
        pairs[engine] = (a, b, int(la), int(lb))
    fits = fit_humaneval(rows, pairs, args.samples, args.tokens_per_completion) if pairs else []
    print("\n| build | B | kizami tok/s | × vs one at a time | greedy differing | engine tok/s | share of engine |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        own = f"{r['engine_tok_s']:.1f}" if r["engine_tok_s"] else "–"
        share = f"{r['share_of_engine']:.2f}" if r["share_of_engine"] else "–"
        print(f"| {r['build']} | {r['batch']} | {r['batched_tok_s']:.1f} | {r['speedup']:.2f} | {r['differing']}/{r['batch']} "
              f"| {own} | {share} |")
    if fits:
        print(f"\nHumanEval (164 problems × {args.samples} samples × {args.tokens_per_completion} tokens, assumed) "
              "predicted for 32 layers on this machine:")
        print("| engine | B | tok/s at 32 layers | HumanEval hours |")
        print("|---|---|---|---|")
        for f in fits:
            if f["tok_s_32_layers"] is None:
                print(f"| {f['engine']} | {f['batch']} | – | – ({f['note']}) |")
            else:
                print(f"| {f['engine']} | {f['batch']} | {f['tok_s_32_layers']:.2f} | {f['humaneval_hours']:.1f} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"machine": {"cpu": platform.processor() or platform.machine(),
                                                    "cores": os.cpu_count(), "threads": args.threads,
                                                    "device": args.device},
                                        "settings": {"prompt": args.prompt, "new": args.new, "repeats": args.repeats},
                                        "rows": rows, "humaneval": fits}, indent=1) + "\n")


if __name__ == "__main__":
    main()
