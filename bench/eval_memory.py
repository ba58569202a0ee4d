"""Does evaluation memory stay flat as the task file grows? Peak RSS of a whole `kizami eval` process (reference
model, build, FIM on every task) over 1x, 4x and 16x a FIM task file, plus how much of the work the FIM journal
keeps when the process is killed halfway. Prints a table and writes JSON.

    python bench/eval_memory.py -o bench/results/eval-memory.json

Each size runs in a fresh process (peak RSS from wait4, so nothing of one run counts in another), ``--repeats``
times after one warm-up run (which also caches the reference for that task file); the median is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kizami.calib_data.build import CalibConfig
from kizami.calib_data.fim import read_tasks, write_tasks
from kizami.calib_data.recipe import load_recipe
from kizami.export.gguf import GGUFConfig, export_gguf
from kizami.run.calib import build_calib
from kizami.standin import resolve_model


def _scaled(tasks: list, times: int) -> list:
    """The task file repeated ``times`` times under new names (distinct tasks to the evaluator)."""
    from dataclasses import replace

    return [replace(t, name=f"{t.name}~{k}") for k in range(times) for t in tasks]


def _command(build: Path, model: Path, calib: Path, fim: Path, out: Path, threads: int) -> list[str]:
    return [sys.executable, "-m", "kizami", "eval", str(build), "--ref", str(model), "--data", str(calib),
            "--tasks", "fim", "--fim-file", str(fim), "-o", str(out), "--threads", str(threads)]


def _eval(build: Path, model: Path, calib: Path, fim: Path, out: Path, threads: int) -> tuple[float, float, int]:
    """(peak RSS MiB, seconds, exit status) of one `kizami eval` process."""
    start = time.monotonic()
    proc = subprocess.Popen(_command(build, model, calib, fim, out, threads), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.monotonic() - start, proc.returncode


def _killed_halfway(build: Path, model: Path, calib: Path, fim: Path, out: Path, threads: int, n: int) -> dict:
    """Kill an eval once half its completions are journaled; the re-run generates only the rest."""
    journal = out.with_name(f".{out.name}.journal")
    proc = subprocess.Popen(_command(build, model, calib, fim, out, threads), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)

    def journaled() -> int:
        return sum(f.read_text(errors="replace").count("\n") for f in journal.glob("*.jsonl")) if journal.is_dir() else 0

    while journaled() < n and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = journaled()
    _, seconds, code = _eval(build, model, calib, fim, out, threads)
    return {"completions": 2 * n, "journaled_before_kill": kept, "rerun_seconds": seconds, "rerun_exit": code}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-fcj")
    ap.add_argument("--per-language", type=int, default=10, help="FIM tasks per language in the 1x file")
    ap.add_argument("--sizes", default="1,4,16")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--out", type=Path, default=None)
    args = ap.parse_args()
    model = resolve_model(args.model)
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        calib = build_calib(load_recipe("default"), model, root / "calib",
                            CalibConfig(samples=16, seq_len=256, fim_per_language=args.per_language))
        build = export_gguf(model, root / "gguf", GGUFConfig(types=("q8_0",), imatrix="none", threads=args.threads))["q8_0"]
        base = read_tasks(calib / "eval" / "fim.jsonl")
        files = {}
        for k in sizes:
            files[k] = root / f"fim-{k}x.jsonl"
            write_tasks(_scaled(base, k), files[k])
        out = root / "result.json"
        rows = {}
        for k in sizes:
            _eval(build, model, calib, files[k], out, args.threads)  # warm-up: caches this file's reference
            runs = [_eval(build, model, calib, files[k], out, args.threads) for _ in range(args.repeats)]
            assert all(code == 0 for _, _, code in runs), f"kizami eval failed at {k}x"
            generations = sum(len((json.loads(out.read_text())["fim"][m] or {}).get("generations", [])) for m in ("psm", "spm"))
            rows[f"{k}x"] = {"tasks": len(base) * k, "completions": generations,
                             "peak_rss_mib": statistics.median(r[0] for r in runs),
                             "seconds": statistics.median(r[1] for r in runs),
                             "fim_file_kib": files[k].stat().st_size / 1024}
        mid = sizes[len(sizes) // 2]
        kill = _killed_halfway(build, model, calib, files[mid], out, args.threads, len(base) * mid)
    print(f"{'tasks':<8}{'FIM file KiB':>14}{'completions':>13}{'peak RSS MiB':>14}{'seconds':>9}")
    for label, r in rows.items():
        print(f"{label:<4}{r['tasks']:>4}{r['fim_file_kib']:>14.0f}{r['completions']:>13}{r['peak_rss_mib']:>14.1f}"
              f"{r['seconds']:>9.1f}")
    print(f"killed at half of {mid}x: {kill['journaled_before_kill']} completions journaled, the re-run finished in "
          f"{kill['rerun_seconds']:.1f} s (exit {kill['rerun_exit']})")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"sizes": rows, "killed_halfway": kill, "threads": args.threads,
                                        "repeats": args.repeats}, indent=2) + "\n")


if __name__ == "__main__":
    main()
