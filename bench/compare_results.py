"""Compare two runs' results.json number by number, leaving out what is timed or machine-bound.

    python bench/compare_results.py OLD/results.json NEW/results.json [--show 80]

Used to check that a refactor moves no figure: every number under ``results`` (perplexity, KLD, FIM, HumanEval,
sizes, gates) is compared exactly; keys that name a time, a rate, memory, the schedule or the environment are skipped.
Results of schema 2 are read as schema 3 first (``upgrade``): unmeasured (null) sections and ``extra`` dropped, its
flat metric settings moved to ``settings.per_metric`` as each metric's ``legacy`` keys say, so both layouts compare.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

TIMED = ("seconds", "tok_s", "wall", "elapsed", "ttft", "memory", "peak", "rss", "time", "_ms", "_s", "speed",
         "prefill", "decode", "schedule", "environment", "versions", "started", "ran_at_once", "batched")


def _upgrade_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """A schema-2 result's flat ``[eval]`` settings in schema 3's layout (each metric's own under ``per_metric``)."""
    import dataclasses

    from kizami.runtime.metrics import metrics

    if "per_metric" in settings:
        return settings
    per, moved = {}, set()
    for name in settings.get("metrics") or ():
        metric = metrics.get(name) if name in metrics else None
        if metric is None or metric.config_class is None:
            continue
        own = dataclasses.asdict(metric.config_class())
        if isinstance(settings.get(name), dict):  # fim and speed were nested under their names
            own |= settings[name]
            moved.add(name)
        for old, new in metric.legacy.items():
            if old in settings:
                own[new] = list(settings[old]) if isinstance(settings[old], tuple) else settings[old]
        per[name] = own
    legacy = {old for n in metrics.names() for old in metrics.get(n).legacy}
    kept = {k: v for k, v in settings.items() if k not in legacy and k not in moved}
    return json.loads(json.dumps({**kept, "per_metric": per}))  # tuples as the JSON lists they are in a file


def upgrade(result: Any) -> Any:
    """One result as schema 3 writes it (a schema-3 result unchanged)."""
    if not isinstance(result, dict) or result.get("schema") != 2:
        return result
    own = ("build", "format", "name", "reference", "eval_set", "settings", "environment", "gates")
    out = {k: v for k, v in result.items() if (k in own or v is not None) and k != "extra"} | (result.get("extra") or {})
    return out | {"schema": 3, "settings": _upgrade_settings(result.get("settings") or {})}


def compare(a: Any, b: Any, path: str, diffs: list[tuple[str, str]]) -> int:
    """Appends each difference to ``diffs``; returns how many numbers were compared."""
    if isinstance(a, dict) and isinstance(b, dict):
        n = 0
        for k in sorted(set(a) | set(b)):
            if any(t in str(k).lower() for t in TIMED):
                continue
            if k not in a or k not in b:
                diffs.append((f"{path}/{k}", "missing in " + ("the first" if k not in a else "the second")))
            else:
                n += compare(a[k], b[k], f"{path}/{k}", diffs)
        return n
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            diffs.append((path, f"length {len(a)} vs {len(b)}"))
            return 0
        return sum(compare(x, y, f"{path}[{i}]", diffs) for i, (x, y) in enumerate(zip(a, b)))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if not (a == b or (math.isnan(a) and math.isnan(b))):
            diffs.append((path, f"{a} vs {b}"))
        return 1
    if a != b:
        diffs.append((path, f"{str(a)[:60]!r} vs {str(b)[:60]!r}"))
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("first")
    ap.add_argument("second")
    ap.add_argument("--show", type=int, default=80, help="differences to print")
    args = ap.parse_args()
    first, second = (json.load(open(p, encoding="utf-8")) for p in (args.first, args.second))
    diffs: list[tuple[str, str]] = []
    n = compare(*({k: upgrade(r) for k, r in (run.get("results") or {}).items()} for run in (first, second)), "results", diffs)
    print(f"{n} numbers compared; {len(diffs)} differences")
    for where, what in diffs[:args.show]:
        print(where, what)


if __name__ == "__main__":
    main()
