"""A measured cost model of the 8B recipe on this machine: every step at full width (Llama-3.1-8B's hidden size, FFN
and 128k vocabulary) on synthetic checkpoints of N = 1, 2, 4 decoder layers, each step run as its own ``kizami``
subprocess with its wall time, CPU time and peak RSS (the whole process tree, polled: gptqmodel's worker,
llama-quantize and llama-imatrix count), also as anonymous memory (RSS less file-backed pages: an mmap'd checkpoint
counts in RSS, but the kernel drops its clean pages when memory is short, so anonymous memory is what must fit).
A least-squares fit ``cost = fixed + per_layer * N`` per step gives the prediction for N = 32
(the real 8B's depth); the fit is checked by predicting N = 4 from N = 1, 2 alone.

Random weights measure time, memory and plumbing, never quality: no quality figure comes from this script.

    python bench/scale.py --layers 1,2,4 --root /work/scale -o bench/results/scale.json     # measure, fit, predict
    python bench/scale.py --fit bench/results/scale.json                                   # re-print the fit only

Calibration is kept small at full width (``--rows`` x ``--seq-len`` for GPTQ and the imatrix, ``--awq-rows`` for AWQ,
whose scale search is the slow part) and the evaluation is capped (``--max-tokens`` held-out tokens per domain,
``--fim-limit`` FIM tasks); the per-row costs are stated by the fit on the rows actually used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KIZAMI = [str(Path(sys.executable).with_name("kizami"))]
GIB = 1 << 30

# steps of the recipe (synth only makes the stand-in; it is measured but is not part of the recipe)
# "reference" at these sizes computes in fp32 (the upcast fits); an 8B's does not fit 24 GiB upcast, so kizami keeps its
# stored bf16 (runtime/backends/torch.py): "reference-bf16" measures that path and is the one counted for N = 32
RECIPE_STEPS = ("calib", "gptq", "awq", "gguf", "onnx", "reference-bf16", "eval-gptq", "eval-awq", "eval-gguf-q8_0",
                "eval-gguf-q4_k_m", "eval-gguf-iq4_xs", "eval-onnx")


# --------------------------------------------------------------------------------------------------- measuring

def _tree_rss(pid: int) -> tuple[int, int]:
    """(RSS, anonymous RSS) summed over the process tree. Anonymous = RSS less file-backed and shared pages: what
    must fit in RAM; file-backed pages (an mmap'd checkpoint) count in RSS but the kernel reclaims them under pressure."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    rss = anon = 0
    for p in procs:
        try:
            mem = p.memory_info()
        except psutil.Error:
            continue
        rss += mem.rss
        anon += mem.rss - getattr(mem, "shared", 0)
    return rss, anon


def measure(cmd: list[str], log: Path, *, interval: float = 0.25, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd`` under ``nice -n 15``; wall seconds, peak RSS of its process tree (sum, polled) and the largest
    single process's peak (``ru_maxrss`` of the waited-for children, exact)."""
    import resource

    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = ru0.ru_maxrss
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen(["nice", "-n", "15", *cmd], stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, "COLUMNS": "160", **(env or {})})
        peak = peak_anon = 0
        stop = threading.Event()

        def poll() -> None:
            nonlocal peak, peak_anon
            while not stop.is_set():
                rss, anon = _tree_rss(proc.pid)
                peak, peak_anon = max(peak, rss), max(peak_anon, anon)
                stop.wait(interval)

        t = threading.Thread(target=poll, daemon=True)
        t.start()
        rc = proc.wait()
        stop.set()
        t.join()
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = ru1.ru_maxrss  # KiB on Linux; a running max over children
    single = after * 1024 if after > before else None
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)  # CPU seconds: not inflated by other load
    return {"cmd": " ".join(cmd), "rc": rc, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "peak_rss_gib": round(peak / GIB, 3), "peak_anon_gib": round(peak_anon / GIB, 3),
            "max_single_rss_gib": round(single / GIB, 3) if single else None, "log": str(log)}


# --------------------------------------------------------------------------------------------------- fitting

def fit_line(ns: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares ``y = fixed + per_layer * n``; with one point, all of it is fixed cost."""
    if len(ns) != len(ys) or not ns:
        raise ValueError("need as many costs as layer counts, at least one")
    if len(set(ns)) == 1:
        return sum(ys) / len(ys), 0.0
    mn, my = sum(ns) / len(ns), sum(ys) / len(ys)
    slope = sum((n - mn) * (y - my) for n, y in zip(ns, ys)) / sum((n - mn) ** 2 for n in ns)
    return my - slope * mn, slope


def predict(ns: list[float], ys: list[float], n: float) -> float:
    fixed, per = fit_line(ns, ys)
    return fixed + per * n


def check_fit(ns: list[float], ys: list[float], *, holdout: float) -> dict[str, float] | None:
    """Predict the cost at ``holdout`` layers from the other points alone; relative error against the measurement."""
    rest = [(n, y) for n, y in zip(ns, ys) if n != holdout]
    held = [y for n, y in zip(ns, ys) if n == holdout]
    if len({n for n, _ in rest}) < 2 or not held:
        return None
    p = predict([n for n, _ in rest], [y for _, y in rest], holdout)
    return {"predicted": p, "measured": held[0], "error": (p - held[0]) / held[0] if held[0] else float("nan")}


def analyse(runs: dict[str, dict[str, dict[str, Any]]], *, target: int = 32, holdout: int = 4) -> dict[str, Any]:
    """Per step: fit of wall time and peak RSS over N, the prediction for ``target`` layers, and the holdout check."""
    steps: dict[str, Any] = {}
    for step in sorted({s for per_n in runs.values() for s in per_n}, key=lambda s: (RECIPE_STEPS.index(s) if s in RECIPE_STEPS else -1, s)):
        pts = sorted((int(n), r) for n, r in runs.items() if step in r and r[step].get("rc") == 0)
        if not pts:
            continue
        ns = [float(n) for n, _ in pts]
        out: dict[str, Any] = {"layers": [n for n, _ in pts]}
        for key in ("wall_s", "cpu_s", "peak_rss_gib", "peak_anon_gib"):
            if any(r[step].get(key) is None for _, r in pts):
                continue
            ys = [float(r[step][key]) for _, r in pts]
            fixed, per = fit_line(ns, ys)
            out[key] = {"measured": ys, "fixed": round(fixed, 3), "per_layer": round(per, 4),
                        f"predicted_{target}": round(fixed + per * target, 2),
                        "check": check_fit(ns, ys, holdout=holdout)}
        steps[step] = out
    recipe = {s: v for s, v in steps.items() if s in RECIPE_STEPS}
    total = sum(v["wall_s"][f"predicted_{target}"] for v in recipe.values())
    slowest = max(recipe, key=lambda s: recipe[s]["wall_s"][f"predicted_{target}"]) if recipe else None
    hungriest = max(recipe, key=lambda s: recipe[s]["peak_rss_gib"][f"predicted_{target}"]) if recipe else None

    def need(step: str) -> float:  # what must fit: anonymous memory where measured, else all of RSS (an upper bound)
        v = recipe[step]
        return float(v.get("peak_anon_gib", v["peak_rss_gib"])[f"predicted_{target}"])

    neediest = max(recipe, key=need) if recipe else None
    return {"target_layers": target, "steps": steps, "total_wall_s": round(total, 1), "slowest_step": slowest,
            "peak_rss_step": hungriest,
            "peak_rss_gib": recipe[hungriest]["peak_rss_gib"][f"predicted_{target}"] if hungriest else None,
            "peak_need_step": neediest, "peak_need_gib": round(need(neediest), 2) if neediest else None}


def print_report(data: dict[str, Any]) -> None:
    runs, a = data["runs"], data["analysis"]
    ns = sorted(runs, key=int)
    t = a["target_layers"]
    head = " | ".join(f"N={n} wall s · CPU s · GiB" for n in ns)
    print(f"| step | {head} | wall fixed + per layer | N={t} wall | N={t} peak GiB | N={t} anon GiB "
          "| N=4 wall pred. (err) | N=4 RSS pred. (err) |")
    print("|---" * (len(ns) + 7) + "|")
    for step, v in a["steps"].items():
        cells = []
        for n in ns:
            r = runs[n].get(step)
            cpu = f"{r['cpu_s']:.0f}" if r and r.get("cpu_s") is not None else "?"
            cells.append(f"{r['wall_s']:.1f} · {cpu} · {r['peak_rss_gib']:.2f}" if r and r.get("rc") == 0 else "—")
        w, m = v["wall_s"], v["peak_rss_gib"]

        def chk(c: dict[str, float] | None) -> str:
            return f"{c['predicted']:.2f} ({c['error']:+.0%})" if c else "—"

        anon = f"{v['peak_anon_gib'][f'predicted_{t}']:.2f}" if "peak_anon_gib" in v else "—"
        print(f"| {step} | {' | '.join(cells)} | {w['fixed']:.1f} + {w['per_layer']:.1f}·N | {w[f'predicted_{t}']:.0f} s "
              f"| {m[f'predicted_{t}']:.2f} | {anon} | {chk(w['check'])} | {chk(m['check'])} |")
    checked = {step: v for step, v in a["steps"].items() if v["wall_s"].get("check")}
    if checked:
        keys = ("wall_s", "cpu_s", "peak_rss_gib", "peak_anon_gib")
        print("\nFit check, N=4 predicted from N=1, 2 alone (error vs measured):\n")
        print("| step | wall | CPU | RSS | anonymous |\n|---|---|---|---|---|")
        for step, v in checked.items():
            errs = [f"{v[k]['check']['error']:+.0%}" if v.get(k, {}).get("check") else "—" for k in keys]
            print(f"| {step} | {' | '.join(errs)} |")
    print(f"\nN={t}: total {a['total_wall_s'] / 3600:.2f} h of steps; slowest step {a['slowest_step']}; "
          f"peak RSS {a['peak_rss_gib']:.2f} GiB in {a['peak_rss_step']}; most memory that must fit "
          f"{a['peak_need_gib']:.2f} GiB in {a['peak_need_step']} (anonymous where measured, else RSS)")


# --------------------------------------------------------------------------------------------------- the steps

def steps_for(n: int, args: argparse.Namespace) -> list[tuple[str, list[str], Path | None]]:
    """(name, command, output deleted after the run with --clean) for N layers, in order."""
    w = args.root / f"n{n}"
    src, calib = w / "src", w / "calib"
    k = KIZAMI
    ev = ["--data", str(calib), "--ref", str(src), "--tasks", "ppl,kld,fim,speed,size", "--ctx", str(args.ctx),
          "--stride", str(args.ctx // 2), "--max-tokens", str(args.max_tokens), "--fim-limit", str(args.fim_limit),
          "--threads", str(args.threads)]
    ref_code = ("from pathlib import Path; from kizami.runtime.evaluate import EvalSettings, reference_for; "
                f"reference_for(Path({str(src)!r}), Path({str(calib)!r}), EvalSettings(ctx={args.ctx}, "
                f"stride={args.ctx // 2}, max_tokens_per_domain={args.max_tokens}, fim_limit={args.fim_limit}, "
                f"metrics=('quality', 'fim', 'speed', 'size'), threads={args.threads}))")
    gguf = w / "gguf"
    return [
        ("synth", [*k, "standin", "synth", "-o", str(src), "--shape", "llama-3.1-8b", "--layers", str(n)], None),
        ("calib", [*k, "calib", "build", "-o", str(calib), "--tokenizer", str(src), "--samples", str(args.rows),
                   "--seq-len", str(args.seq_len), "--fim-per-language", "1"], None),
        ("gptq", [*k, "quantize", "gptq", str(src), "-o", str(w / "gptq"), "--calib", str(calib),
                  "--samples", str(args.rows), "--threads", str(args.threads)], w / "gptq"),
        ("awq", [*k, "quantize", "awq", str(src), "-o", str(w / "awq"), "--calib", str(calib),
                 "--samples", str(args.awq_rows), "--seq-len", str(args.awq_seq_len), "--threads", str(args.threads)],
         w / "awq"),
        ("gguf", [*k, "export", "gguf", str(src), "-o", str(gguf), "--types", "q8_0,q4_k_m,iq4_xs", "--calib", str(calib),
                  "--imatrix-chunks", str(args.imatrix_chunks), "--imatrix-ctx", str(args.seq_len),
                  "--threads", str(args.threads)], gguf),
        ("onnx", [*k, "export", "onnx", str(src), "-o", str(w / "onnx"), "--precision", "int4", "--target", "cpu"],
         w / "onnx"),
        ("reference", [sys.executable, "-c", ref_code], None),
        ("reference-bf16", [sys.executable, "-c", "import kizami.runtime.backends.torch as tb; "
                            "tb._cpu_float_dtype = lambda _path: 'auto'; " + ref_code], None),
        ("eval-gptq", [*k, "eval", str(w / "gptq"), *ev, "-o", str(w / "eval-gptq.json")], None),
        ("eval-awq", [*k, "eval", str(w / "awq"), *ev, "-o", str(w / "eval-awq.json")], None),
        *[(f"eval-gguf-{q}", [*k, "eval", str(gguf / q.upper()), *ev, "-o", str(w / f"eval-gguf-{q}.json")], None)
          for q in ("q8_0", "q4_k_m", "iq4_xs")],
        ("eval-onnx", [*k, "eval", str(w / "onnx"), *ev, "-o", str(w / "eval-onnx.json")], None),
    ]


def _real_home() -> Path:
    return Path(os.environ.get("KIZAMI_HOME") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kizami")


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(args.out.read_text()) if args.out and args.out.is_file() else {"runs": {}}
    data["settings"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "fit"}
    data["machine"] = {"cpus": os.cpu_count(), "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB, 1),
                       "machine": platform.machine(), "python": platform.python_version()}
    only = set(args.steps.split(",")) if args.steps else None
    for n in args.layers:
        per_n = data["runs"].setdefault(str(n), {})
        for name, cmd, output in steps_for(n, args):
            if only and name not in only:
                continue
            if name in per_n and per_n[name].get("rc") == 0 and not args.redo:
                continue
            if name == "synth" and (args.root / f"n{n}" / "src").is_dir():
                shutil.rmtree(args.root / f"n{n}" / "src")
            if name == "calib" and (args.root / f"n{n}" / "calib").is_dir():
                shutil.rmtree(args.root / f"n{n}" / "calib")
            if output is not None and output.exists():
                shutil.rmtree(output)
            home = args.root / f"n{n}" / "home"  # own cache: the reference is computed here, not found from a past run
            if name.startswith("reference") and (home / "references").is_dir():
                shutil.rmtree(home / "references")
            home.mkdir(parents=True, exist_ok=True)
            for tool in _real_home().glob("llama.cpp-*"):
                if not (home / tool.name).exists():
                    (home / tool.name).symlink_to(tool)
            print(f"[N={n}] {name} …", flush=True)
            r = measure(cmd, args.root / "logs" / f"n{n}-{name}.log", env={"KIZAMI_HOME": str(home)})
            per_n[name] = r
            print(f"[N={n}] {name}: rc {r['rc']}, {r['wall_s']:.1f} s, peak RSS {r['peak_rss_gib']:.2f} GiB", flush=True)
            if args.out:
                data["analysis"] = analyse(data["runs"])
                args.out.write_text(json.dumps(data, indent=2) + "\n")
        if args.clean:  # the next N needs the disk more than these builds
            for name, _, output in steps_for(n, args):
                if output is not None and output.exists() and name in per_n:
                    shutil.rmtree(output)
    data["analysis"] = analyse(data["runs"])
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4])
    ap.add_argument("--root", type=Path, default=Path("/work/scale"), help="synthetic checkpoints and builds go here")
    ap.add_argument("--steps", default="", help="only these steps (comma-separated)")
    ap.add_argument("--rows", type=int, default=8, help="calibration rows for GPTQ (and the calibration set)")
    ap.add_argument("--awq-rows", type=int, default=1, help="calibration rows for AWQ")
    ap.add_argument("--awq-seq-len", type=int, default=64, help="tokens per AWQ calibration row (its clip search reads "
                    "at most about 512 tokens whatever the set's size, and costs in proportion to them below that)")
    ap.add_argument("--seq-len", type=int, default=256, help="tokens per calibration row and per imatrix chunk")
    ap.add_argument("--imatrix-chunks", type=int, default=4)
    ap.add_argument("--ctx", type=int, default=256, help="perplexity window")
    ap.add_argument("--max-tokens", type=int, default=384, help="held-out tokens scored per domain")
    ap.add_argument("--fim-limit", type=int, default=2, help="FIM tasks (each in PSM and SPM)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--clean", action="store_true", help="delete each N's builds once its steps have run")
    ap.add_argument("--redo", action="store_true", help="re-measure steps already in --out")
    ap.add_argument("--fit", type=Path, default=None, help="only print the fit of an existing results JSON")
    ap.add_argument("-o", "--out", type=Path, default=None)
    args = ap.parse_args()
    if args.fit:
        data = json.loads(args.fit.read_text())
        data["analysis"] = analyse(data["runs"])
    else:
        data = run_all(args)
        if args.out:
            args.out.write_text(json.dumps(data, indent=2) + "\n")
    print_report(data)


if __name__ == "__main__":
    main()
