"""What does functional correctness cost? Sandbox execution of HumanEval, and generation on the stand-in.

1. Executing the 164 problems' tests with their canonical solutions in the sandbox (one child process each), with
   ``--workers`` programs at once: one warm-up pass, then the median of ``--repeats`` passes. Also one timed pass
   over the default infilling task list (all three kinds, one task of each per problem).
2. Greedy generation on the stand-in (``tiny-fcj``, torch backend, CPU) for the first ``--gen-problems`` problems
   with HumanEval's stop sequences and max_new_tokens 512: seconds and new tokens per task, tokens/s.

Prints a table and writes JSON.

    python bench/functional.py --workers 2 --repeats 3 --gen-problems 8 --threads 2 -o bench/results/functional.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--gen-problems", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--output", type=Path, default=Path("bench/results/functional.json"))
    args = ap.parse_args()

    from kizami.calib_data.problems import load_problems, make_infill_tasks
    from kizami.runtime.metrics.functional import GenSettings, check_problems, generate_completions, score_infills
    from kizami.runtime.sandbox import isolation

    problems = load_problems("humaneval")
    check_problems(problems, workers=args.workers)  # warm-up: probe, page cache
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        rows = check_problems(problems, workers=args.workers)
        times.append(time.perf_counter() - t0)
        assert all(r["outcome"] == "passed" for r in rows), [r for r in rows if r["outcome"] != "passed"]
    tasks = make_infill_tasks(problems)
    t0 = time.perf_counter()
    fill = score_infills(tasks, [t.middle for t in tasks], workers=args.workers)
    infill_s = time.perf_counter() - t0
    assert fill["pass@1"] == 1.0

    from kizami.runtime import open_build
    from kizami.standin import standin_path

    backend = open_build(standin_path(), threads=args.threads)
    subset = problems[: args.gen_problems]
    generate_completions(backend, subset[:1], GenSettings(max_new_tokens=16))  # warm-up
    t0 = time.perf_counter()
    comps, stats = generate_completions(backend, subset, GenSettings())
    gen_wall = time.perf_counter() - t0
    backend.close()

    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "sandbox": isolation().to_dict(),
        "execute_164": {"workers": args.workers, "repeats": args.repeats, "median_s": round(statistics.median(times), 3),
                        "all_s": [round(t, 3) for t in times],
                        "per_program_ms": round(1000 * statistics.median(times) / len(problems), 1)},
        "execute_infill": {"tasks": len(tasks), "workers": args.workers, "seconds": round(infill_s, 3)},
        "generate_standin": {"problems": len(subset), "threads": args.threads, "max_new_tokens": 512,
                             "wall_s": round(gen_wall, 3), "s_per_task": round(gen_wall / len(subset), 3),
                             "new_tokens": stats["new_tokens"],
                             "tokens_per_task": round(stats["new_tokens"] / len(subset), 1),
                             "tokens_per_s": round(stats["new_tokens"] / stats["seconds"], 1)},
    }
    print(f"{'measure':<44}{'value':>12}")
    print(f"{'execute 164 canonical, median s':<44}{result['execute_164']['median_s']:>12}")
    print(f"{'  per program, ms':<44}{result['execute_164']['per_program_ms']:>12}")
    print(f"{f'execute {len(tasks)} infill canonical, s':<44}{result['execute_infill']['seconds']:>12}")
    g = result["generate_standin"]
    print(f"{'stand-in generation, s per task':<44}{g['s_per_task']:>12}")
    print(f"{'stand-in new tokens per task':<44}{g['tokens_per_task']:>12}")
    print(f"{'stand-in tokens/s':<44}{g['tokens_per_s']:>12}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
