"""``kizami run``: one recipe → calibration set, every build, the bf16 reference, each build evaluated and gated.

Each step is skipped when its output already verifies and was made from the same inputs (the exporters and the
calibration builder check their manifests; evaluation results are keyed by the build's file hashes and the
evaluation settings). A failed build is recorded in the results and does not stop the others unless ``fail_fast``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import platform
import shutil
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kizami import manifest
from kizami.errors import KizamiError
from kizami.progress import Progress, prefixed
from kizami.run.recipe import BuildStep, RunRecipe
from kizami.runtime.result import EvalResult, RunSummary  # RunSummary: read by the reports and bundles

__all__ = ["RunSummary", "Plan", "run", "plan", "check_steps", "make_calibration", "make_build", "make_reference",
           "evaluate_build", "finish", "make_schedule", "critical_path", "failure_text", "write_reports", "load_summary", "run_out",
           "finished_steps"]

log = logging.getLogger(__name__)

Status = Callable[[str], None]


def run_out(recipe: RunRecipe) -> Path:
    return Path(recipe.out) if Path(recipe.out).is_absolute() else Path.cwd() / recipe.out


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
        from kizami.run.on_ray import require_ray, run_on_ray

        require_ray()
        with _exclusive(out):
            return run_on_ray(recipe, address=address, status=status, fail_fast=fail_fast)
    with _exclusive(out):
        return _run(recipe, out, progress=progress, status=status, fail_fast=fail_fast)


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What every step of a run needs, resolved on the driver: the recipe, the checkpoint and the output folder (both
    absolute, so a step runs the same in this process or in a Ray task on another machine)."""

    recipe: RunRecipe
    model: Path
    out: Path


def plan(recipe: RunRecipe) -> Plan:
    """Resolve the recipe's model (a stand-in's name, or a path relative to the recipe) and its output folder."""
    from kizami.standin import resolve_model

    named = resolve_model(recipe.model)
    model = named if named.is_absolute() else recipe.path(recipe.model)
    return Plan(recipe=recipe, model=model.absolute(), out=run_out(recipe).absolute())


def check_steps(p: Plan) -> None:
    """What needs the model to check (a tensor pattern that matches nothing) fails now, before any work."""
    from kizami.formats import get_format

    for step in p.recipe.builds:
        get_format(step.format).check_config(p.model, step.config)


def make_calibration(p: Plan) -> Path:
    """The calibration and evaluation set (reused when its manifest says it was made from the same inputs)."""
    from kizami.run.calib import resolve_calib

    recipe = p.recipe
    spec = recipe.calib_recipe if recipe.calib_recipe == "default" else str(recipe.path(recipe.calib_recipe))
    return resolve_calib(spec, p.model, folder=p.out / "calib", cfg=recipe.calib)


def make_build(p: Plan, step: BuildStep, calib: Path | None, progress: Progress) -> dict[str, Path]:
    """One ``[[build]]`` step: build name → build folder. Raises ``KizamiError`` when it cannot be made."""
    from kizami.formats import get_format

    made = get_format(step.format).build(p.model, p.out / "builds" / step.name, step.config, calib=calib,
                                         progress=prefixed(progress, f"{step.name}: "))
    return {name: made[stem] for name, stem in step.builds.items()}


def make_reference(p: Plan, calib: Path, progress: Progress) -> Any:
    """The bf16 reference distributions (``kizami.runtime.metrics.reference.Reference``), cached per model and set."""
    from kizami.runtime.evaluate import reference_for

    return reference_for(p.model, calib, p.recipe.eval, progress)


def evaluate_build(p: Plan, name: str, path: Path, reference: Any, *, n_params: int, progress: Progress,
                   status: Status) -> EvalResult:
    """One build measured against the reference; a result already on disk under the same key is reused, a new one is
    written as soon as it is complete. Raises what the evaluation raises."""
    from kizami.runtime.evaluate import evaluate, result_key

    settings = p.recipe.eval
    results_dir = p.out / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    key = result_key(path, settings, reference)
    cached = results_dir / f"{name}.json"
    with contextlib.suppress(OSError, ValueError, KeyError, KizamiError):
        data = json.loads(cached.read_text(encoding="utf-8"))
        if data.get("key") == key:
            return EvalResult.from_dict(data["result"])
    status(f"evaluating {name}")
    result = evaluate(path, reference, settings, n_params=n_params, name=name,
                      progress=prefixed(progress, f"{name}: "),
                      journal_dir=results_dir / "journal")
    # results stream to disk as each build finishes
    manifest.write_atomic(cached, json.dumps({"key": key, "result": result.to_dict()}, indent=1, ensure_ascii=False))
    return result


def failure_text(exc: BaseException) -> str:
    """What a failed step records: a kizami error's message, else the last line of the traceback."""
    if isinstance(exc, KizamiError):
        return str(exc)
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


class _Clock:
    """Where and when each step ran, for the run's ``schedule`` (the serial run: one machine, one step at a time)."""

    def __init__(self) -> None:
        self.t0 = time.time()
        self.tasks: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def step(self, task: str, needs: tuple[str, ...] = ()) -> Iterator[None]:
        start = time.time()
        try:
            yield
        finally:
            self.tasks.append({"task": task, "needs": list(needs), "node": platform.node(),
                               "start_s": round(start - self.t0, 2), "wall_s": round(time.time() - start, 2)})

    def schedule(self) -> dict[str, Any]:
        return make_schedule("serial", self.tasks, time.time() - self.t0, nodes=[platform.node()])


def critical_path(tasks: list[dict[str, Any]]) -> tuple[float, list[str]]:
    """The longest chain of steps, each needing the one before (``needs``), by their wall times: no executor can
    finish the run sooner than its length."""
    wall = {t["task"]: float(t["wall_s"]) for t in tasks}
    needs = {t["task"]: [n for n in t.get("needs", []) if n in wall] for t in tasks}
    best: dict[str, tuple[float, list[str]]] = {}

    def longest(task: str) -> tuple[float, list[str]]:
        if task not in best:
            before = max((longest(n) for n in needs[task]), default=(0.0, []), key=lambda x: x[0])
            best[task] = (before[0] + wall[task], [*before[1], task])
        return best[task]

    return max((longest(t) for t in wall), default=(0.0, []), key=lambda x: x[0])


def make_schedule(executor: str, tasks: list[dict[str, Any]], run_wall_s: float, *, nodes: list[str],
                  **extra: Any) -> dict[str, Any]:
    """The run's ``schedule`` section: every step's node and times, the run's wall time, the sum of the steps' wall
    times, the critical path, and what running steps side by side saved against that sum."""
    total = sum(t["wall_s"] for t in tasks)
    built = {t["task"].removeprefix("build "): t["node"] for t in tasks if t["task"].startswith("build ")}
    evaluated = {t["task"].removeprefix("evaluate "): t["node"] for t in tasks if t["task"].startswith("evaluate ")}
    length, path = critical_path(tasks)
    return {"executor": executor, "nodes": nodes, "tasks": tasks, "built_on": built, "evaluated_on": evaluated,
            "run_wall_s": round(run_wall_s, 2), "sum_of_steps_s": round(total, 2), "critical_path_s": round(length, 2),
            "critical_path": path, "saved_s": round(total - run_wall_s, 2), **extra}


def _run(recipe: RunRecipe, out: Path, *, progress: Progress, status: Status, fail_fast: bool) -> RunSummary:
    from kizami.checkpoint import count_parameters

    p = plan(recipe)
    check_steps(p)
    clock = _Clock()
    status("calibration set")
    with clock.step("calibration"):
        calib_dir = make_calibration(p)

    failures: dict[str, str] = {}
    builds: dict[str, Path] = {"bf16": p.model}
    made_by: dict[str, tuple[str, ...]] = {"bf16": ()}  # build name → the step that made it, for the schedule
    for step in recipe.builds:
        status(f"building {step.name}")
        try:
            with clock.step(f"build {step.name}", ("calibration",)):
                made = make_build(p, step, calib_dir, progress)
        except KizamiError as exc:
            if fail_fast:
                raise
            failures[step.name] = str(exc)
            continue
        builds |= made
        made_by |= dict.fromkeys(made, (f"build {step.name}",))

    status("bf16 reference distributions")
    with clock.step("reference", ("calibration",)):
        reference = make_reference(p, calib_dir, progress)
    n_params = count_parameters(p.model)
    results: dict[str, EvalResult] = {}
    for name, path in builds.items():
        try:
            with clock.step(f"evaluate {name}", (*made_by[name], "reference")):
                results[name] = evaluate_build(p, name, path, reference, n_params=n_params, progress=progress,
                                               status=status)
        except Exception as exc:  # a crash in one engine must not lose the other builds' results
            if fail_fast:
                raise
            failures[name] = failure_text(exc)
    return finish(p, calib_dir, builds, results, failures, status, schedule=clock.schedule())


def finish(p: Plan, calib_dir: Path, builds: dict[str, Path], results: dict[str, EvalResult], failures: dict[str, str],
           status: Status, *, schedule: dict[str, Any] | None = None) -> RunSummary:
    """On the driver, once every evaluation is in: agreement with bf16, the gates, the bundles, results.json and the
    reports. ``results`` is in the recipe's order (bf16 first, then each step's builds)."""
    from kizami.runtime.metrics import metrics, run_order

    recipe, out = p.recipe, p.out
    results_dir = out / "results"
    if not failures:  # journals of evaluations that were abandoned (settings changed mid-run) are of no further use
        shutil.rmtree(results_dir / "journal", ignore_errors=True)
    ref = results.get("bf16")
    for name, result in list(results.items()):
        if name == "bf16":
            continue
        for metric in (metrics.get(m) for m in run_order(result.settings.get("metrics") or ()) if m in metrics):
            mine, theirs = result.section(metric.key()), ref.section(metric.key()) if ref else None
            if mine and theirs:  # e.g. the share of FIM completions, or HumanEval outcomes, equal to bf16's
                result = result.with_section(metric.key(), metric.compare(mine, theirs))
        results[name] = result.replace(gates=recipe.gates.verdict(result, ref))
    calibration = manifest.load(calib_dir).calibration
    summary = RunSummary(recipe=dict(recipe.raw), calibration=dict(calibration) if calibration else None, results=results,
                         failures=failures, schedule=schedule or {})
    if recipe.bundle.enabled:
        _write_bundles(recipe, summary, {n: p for n, p in builds.items() if n != "bf16" and n in results},
                       out / "bundles", status)
    manifest.write_atomic(out / "results.json", json.dumps(summary.to_dict(), indent=1, ensure_ascii=False) + "\n")
    write_reports(out, summary)
    return summary


def _write_bundles(recipe: RunRecipe, summary: RunSummary, builds: dict[str, Path], out: Path,
                   status: Status) -> None:
    """A deployable bundle per measured build (hard links: no extra space), its card carrying the run's figures."""
    from kizami.run.bundle import BundleCard, make_bundle

    card = BundleCard(base_model=recipe.bundle.base_model, license=recipe.bundle.license, repo=recipe.bundle.repo)
    for name, path in builds.items():
        status(f"bundling {name}")
        try:
            make_bundle(path, out / name, card=card, result=summary.results[name], reference=summary.reference,
                        tarball=recipe.bundle.tar, overwrite=True)
        except KizamiError as exc:
            summary.failures[f"bundle {name}"] = str(exc)


def write_reports(out: Path, summary: RunSummary) -> list[Path]:
    """report.md and report.html (self-contained) next to results.json; returns their paths."""
    from kizami.run.report_html import html_report
    from kizami.run.report_text import markdown_report

    manifest.write_atomic(out / "report.md", markdown_report(summary) + "\n")
    manifest.write_atomic(out / "report.html", html_report(summary) + "\n")
    return [out / "report.md", out / "report.html"]


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
