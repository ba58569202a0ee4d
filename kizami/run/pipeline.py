"""``kizami run``: one recipe → calibration set, every build, the bf16 reference, each build evaluated and gated.

The steps, what each needs and how a failure spreads are ``kizami.run.plan``'s; this module picks the executor and
is the serial one: it walks the plan in dependency order in this process. Each step is skipped when its output
already verifies and was made from the same inputs (the exporters and the calibration builder check their manifests;
evaluation results are keyed by the build's file hashes and the evaluation settings). A failed build is recorded in
the results and does not stop the others unless ``fail_fast``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path

from kizami.core import manifest
from kizami.core.errors import KizamiError
from kizami.core.progress import Progress
from kizami.run.plan import Gather, Plan, Skipped, Status, StepIO, attempt, check_steps, inputs, make_plan, run_out, write_reports
from kizami.run.recipe import RunRecipe
from kizami.run.summary import RunSummary  # read by the reports and bundles

__all__ = ["RunSummary", "run", "run_serial", "write_reports", "load_summary", "run_out", "finished_steps"]


def finished_steps(out: Path) -> list[str]:
    """What a run left complete in ``out`` (only finished steps have a manifest or a results file): for Ctrl-C."""
    done = ["calibration set"] if (out / "calib" / manifest.MANIFEST_NAME).is_file() else []
    done += [f"build {p.parent.relative_to(out / 'builds').as_posix()}"
             for p in sorted((out / "builds").glob(f"**/{manifest.MANIFEST_NAME}"))]
    done += [f"results {p.stem}" for p in sorted((out / "results").glob("*.json"))]
    return done


def run(recipe: RunRecipe, *, progress: Progress, status: Status, fail_fast: bool = False,
        ray: str | None = None) -> RunSummary:
    """Run the recipe into its ``out`` folder, which one run at a time may use: step after step in this process, or,
    with ``ray`` (a cluster address) or ``[run] executor = "ray"``, as tasks on a Ray cluster (``kizami.run.on_ray``)."""
    address = ray or (recipe.run.address if recipe.run.executor == "ray" else None)
    out = run_out(recipe)
    if address:
        from kizami.run.on_ray import require_ray, run_on_ray  # Ray only when a run asks for it

        require_ray()
        with _exclusive(out):
            return run_on_ray(recipe, address=address, status=status, fail_fast=fail_fast)
    with _exclusive(out):
        plan = make_plan(recipe)
        check_steps(plan.job)
        return run_serial(plan, progress=progress, status=status, fail_fast=fail_fast)


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """An advisory lock on OUT/.kizami-run.lock: a second run into the same folder refuses instead of interleaving."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".kizami-run.lock", "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            raise KizamiError(f"another kizami run (pid {fh.read().strip() or '?'}) is writing {out}; wait for it "
                              "or give this recipe another `out`") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield


def run_serial(plan: Plan, *, progress: Progress, status: Status, fail_fast: bool) -> RunSummary:
    """The serial executor: each step in the plan's order, in this process, on this machine."""
    gather = Gather(plan, fail_fast=fail_fast)
    io = StepIO(progress=progress, say=status)
    node = platform.node()
    for step in plan.steps:
        got = inputs(step, gather.outcomes)
        if isinstance(got, Skipped):
            gather.record(step.key, got)
            continue
        start = time.time()
        outcome = attempt(step, plan.job, got, io)
        gather.ran(step.key, node=node, start=start, end=time.time())
        gather.record(step.key, outcome)
    return gather.summary(status, executor="serial", nodes=[node])


def load_summary(run_dir: Path) -> RunSummary:
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise KizamiError(f"{run_dir} has no results.json; give the `out` folder of a finished `kizami run`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KizamiError(f"{path} is not valid JSON ({exc}); re-run `kizami run` to rewrite it") from None
    if not isinstance(data, dict) or not {"recipe", "results"} <= data.keys() or not isinstance(data["results"], dict):
        raise KizamiError(f"{path} is not a kizami results file (no recipe/results)")
    return RunSummary.from_dict(data)
