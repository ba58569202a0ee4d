"""Predicted makespan of the 8B recipe on 1, 4 and 8 nodes: the run's task graph (calibration → each build → the bf16
reference → each build's evaluation) with every step's wall time from kizami's cost model (``kizami.run.cost``: the fit
of ``bench/scale.py`` at 32 layers), list-scheduled the way Ray places ready tasks: each node runs one step at a time
(on a GPU node the step holds the node's GPU), a ready step goes to the first free node, longest remaining path first.

The step times are this project's 2-core CPU measurements (no GPU was lent): the table shows what the graph allows
(critical path, speed-up over one node), not GPU hours. On GPUs GPTQ, AWQ and the evaluations shrink by factors
that were not measured; the critical path and the shape of the speed-up are what carry over.

    .venv/bin/python bench/ray_makespan.py -o bench/results/ray_makespan.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kizami.run import cost

# the 8B recipe of docs/scale.md: task → (cost-model step, the tasks it needs)
BUILDS = {"gptq": "gptq", "awq": "awq", "gguf": "gguf", "onnx": "onnx"}  # [[build]] step → cost kind
EVALS = {"gptq-w4g128": ("gptq", "eval-torch"), "awq-w4g128": ("awq", "eval-torch"),
         "gguf-q8_0": ("gguf", "eval-gguf"), "gguf-q4_k_m": ("gguf", "eval-gguf"), "gguf-iq4_xs": ("gguf", "eval-gguf"),
         "onnx-int4-cpu": ("onnx", "eval-onnx")}
SHAPE_8B = {"hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
            "num_hidden_layers": 32, "vocab_size": 128256}


def graph() -> dict[str, tuple[float, tuple[str, ...]]]:
    """task → (predicted wall seconds, the tasks it needs)."""
    shape = cost.model_shape(SHAPE_8B)

    def wall(kind: str) -> float:
        return cost.need(kind, shape).wall_s

    tasks: dict[str, tuple[float, tuple[str, ...]]] = {"calibration": (wall("calib"), ())}
    tasks |= {f"build {b}": (wall(kind), ("calibration",)) for b, kind in BUILDS.items()}
    tasks["reference"] = (wall("reference"), ("calibration",))
    tasks["evaluate bf16"] = (wall("eval-bf16"), ("reference",))
    tasks |= {f"evaluate {n}": (wall(kind), (f"build {b}", "reference")) for n, (b, kind) in EVALS.items()}
    return tasks


def critical_path(tasks: dict[str, tuple[float, tuple[str, ...]]]) -> tuple[float, list[str]]:
    memo: dict[str, tuple[float, list[str]]] = {}

    def longest(t: str) -> tuple[float, list[str]]:
        if t not in memo:
            before = max((longest(n) for n in tasks[t][1]), default=(0.0, []), key=lambda x: x[0])
            memo[t] = (before[0] + tasks[t][0], [*before[1], t])
        return memo[t]

    return max((longest(t) for t in tasks), key=lambda x: x[0])


def schedule(tasks: dict[str, tuple[float, tuple[str, ...]]], nodes: int) -> dict[str, Any]:
    """List scheduling: when a node is free, it takes the ready task with the longest path to the end of the run."""
    after: dict[str, list[str]] = {t: [] for t in tasks}
    for t, (_, needs) in tasks.items():
        for n in needs:
            after[n].append(t)
    tail: dict[str, float] = {}

    def to_end(t: str) -> float:
        if t not in tail:
            tail[t] = tasks[t][0] + max((to_end(s) for s in after[t]), default=0.0)
        return tail[t]

    free = [0.0] * nodes
    end: dict[str, float] = {}
    placed: list[dict[str, Any]] = []
    left = set(tasks)
    while left:
        ready = [t for t in left if all(n in end for n in tasks[t][1])]
        t = max(ready, key=lambda x: (to_end(x), x))
        earliest = max((end[n] for n in tasks[t][1]), default=0.0)
        node = min(range(nodes), key=lambda i: (max(free[i], earliest), i))
        start = max(free[node], earliest)
        end[t] = free[node] = start + tasks[t][0]
        placed.append({"task": t, "node": node, "start_s": round(start, 1), "end_s": round(end[t], 1)})
        left.remove(t)
    return {"nodes": nodes, "makespan_s": round(max(end.values()), 1), "tasks": sorted(placed, key=lambda x: x["start_s"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", default="1,4,8")
    ap.add_argument("-o", "--out", type=Path, default=None)
    args = ap.parse_args()
    tasks = graph()
    total = sum(w for w, _ in tasks.values())
    length, path = critical_path(tasks)
    rows = [schedule(tasks, int(n)) for n in args.nodes.split(",")]
    print(f"8B recipe: {len(tasks)} steps, {total / 3600:.2f} h of steps; critical path {length / 3600:.2f} h: "
          f"{' → '.join(path)}\n")
    print("| nodes | makespan | speed-up over 1 node | share of the critical path |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['nodes']} | {r['makespan_s'] / 3600:.2f} h ({r['makespan_s']:.0f} s) | {total / r['makespan_s']:.2f} × "
              f"| {length / r['makespan_s']:.0%} |")
    if args.out:
        data = {"steps": {t: {"wall_s": w, "needs": list(n)} for t, (w, n) in tasks.items()}, "sum_of_steps_s": round(total, 1),
                "critical_path_s": round(length, 1), "critical_path": path, "schedules": rows,
                "source": "kizami.run.cost (the fit of bench/scale.py, bench/results/scale.json) at 32 layers"}
        args.out.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
