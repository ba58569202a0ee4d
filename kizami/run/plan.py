"""A recipe's run as one plan: its steps, what each needs, the function that does it and what the cost model says it
asks of a machine; the one failure policy; and the one place that gathers what the steps gave into ``results.json``.

The graph: calibration set → one build per ``[[build]]`` step and the bf16 reference → one evaluation per build (bf16
included); then agreement with bf16, the gates, the bundles, results.json and the reports on the driver. An executor
only decides where and when a step runs: ``kizami.run.pipeline`` one after another in this process,
``kizami.run.on_ray`` as Ray tasks. Both hand every outcome to a ``Gather``, so a failed step leaves the same record
whichever ran it.

Failure policy (``Gather.record``):
- a step that raises leaves one line: a ``KizamiError``'s message, else the exception's last traceback line (the whole
  traceback of such a bug is logged);
- the steps that need it do not run and leave no record of their own (the failure they inherit is recorded once);
- a build's or an evaluation's failure is recorded under the build's name in ``failures`` and the run goes on
  (``kizami run`` then exits 4); a failed calibration set or bf16 reference, which every evaluation needs, or any
  failure under ``fail_fast``, stops the run with one line: ``step 'reference' failed: …``.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import json
import logging
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kizami.core import manifest
from kizami.core.errors import KizamiError
from kizami.core.progress import Progress, prefixed
from kizami.run import cost
from kizami.run.recipe import BuildStep, RunRecipe
from kizami.run.summary import RunSummary
from kizami.runtime.result import EvalResult

__all__ = ["Kind", "Job", "StepIO", "Step", "Plan", "Failed", "Skipped", "Gather", "make_plan", "resolve", "run_out",
           "check_steps", "attempt", "failed", "inputs", "failure_text", "make_schedule", "critical_path", "finish",
           "write_reports"]

log = logging.getLogger(__name__)

GIB = 1 << 30
Status = Callable[[str], None]


def run_out(recipe: RunRecipe) -> Path:
    return Path(recipe.out) if Path(recipe.out).is_absolute() else Path.cwd() / recipe.out


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """What every step needs, resolved on the driver: the recipe, the checkpoint and the output folder (both
    absolute, so a step runs the same in this process or in a Ray task on another machine)."""

    recipe: RunRecipe
    model: Path
    out: Path


def resolve(recipe: RunRecipe) -> Job:
    """Resolve the recipe's model (a stand-in's name, or a path relative to the recipe) and its output folder."""
    from kizami.standin import resolve_model

    named = resolve_model(recipe.model)
    model = named if named.is_absolute() else recipe.path(recipe.model)
    return Job(recipe=recipe, model=model.absolute(), out=run_out(recipe).absolute())


def check_steps(job: Job) -> None:
    """What needs the model to check (a tensor pattern that matches nothing) fails now, before any work."""
    from kizami.builders import get_builder

    for step in job.recipe.builds:
        get_builder(step.format).check_config(job.model, step.config)


# ------------------------------------------------------------------------------------------- the steps

@dataclass(frozen=True, slots=True)
class StepIO:
    """Where a step reports: ``progress`` for counted stages, ``say`` for the line that names what it does now."""

    progress: Progress
    say: Status


class Kind(enum.StrEnum):
    CALIBRATION = "calibration"
    BUILD = "build"
    REFERENCE = "reference"
    EVALUATE = "evaluate"


# the steps every evaluation needs: when one fails, nothing can be measured and the run stops
_FATAL = {Kind.CALIBRATION, Kind.REFERENCE}


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One step of the plan: what it needs, the function that does it (given the job, its needs' values by key and
    its ``StepIO``), and what it asks of a machine (``kizami.run.cost`` at the model's size)."""

    kind: Kind
    name: str = ""  # the build step's name (build) or the build's name (evaluate)
    needs: tuple[str, ...]
    fn: Callable[[Job, dict[str, Any], StepIO], Any]
    cpus: float
    gpus: float
    memory: int  # bytes
    wall_s: float
    handoff: str = ""  # a value too large to pass between machines goes through this file under OUT/.ray

    @property
    def key(self) -> str:
        """The schedule's name: "calibration", "build gguf", "reference", "evaluate gguf-q8_0"."""
        return f"{self.kind} {self.name}" if self.name else str(self.kind)

    @property
    def label(self) -> str:
        """The prefix of its progress lines: the build's name, else the step's."""
        return self.name or str(self.kind)

    def asks(self) -> str:
        return (f"{self.memory / GIB:.1f} GiB of memory and {self.cpus:g} CPU"
                + (f" and {self.gpus:g} GPU" if self.gpus else ""))


@dataclass(frozen=True, slots=True)
class Plan:
    job: Job
    steps: tuple[Step, ...]  # each after every step it needs: the serial order, and Ray's submission order

    def step(self, key: str) -> Step:
        return next(s for s in self.steps if s.key == key)


def make_calibration(job: Job) -> Path:
    """The calibration and evaluation set (reused when its manifest says it was made from the same inputs)."""
    from kizami.run.calib import resolve_calib

    recipe = job.recipe
    spec = recipe.calib_recipe if recipe.calib_recipe == "default" else str(recipe.path(recipe.calib_recipe))
    return resolve_calib(spec, job.model, folder=job.out / "calib", cfg=recipe.calib)


def make_build(job: Job, step: BuildStep, calib: Path | None, progress: Progress) -> dict[str, Path]:
    """One ``[[build]]`` step: build name → build folder. Raises ``KizamiError`` when it cannot be made."""
    from kizami.builders import get_builder

    made = get_builder(step.format).build(job.model, job.out / "builds" / step.name, step.config, calib=calib,
                                          progress=prefixed(progress, f"{step.name}: "))
    return {name: made[stem] for name, stem in step.builds.items()}


def make_reference(job: Job, calib: Path, progress: Progress) -> Any:
    """The bf16 reference distributions (``kizami.runtime.reference.Reference``), cached per model and set."""
    from kizami.runtime.evaluate import reference_for

    return reference_for(job.model, calib, job.recipe.eval, progress)


def evaluate_build(job: Job, name: str, path: Path, reference: Any, *, progress: Progress, status: Status) -> EvalResult:
    """One build measured against the reference; a result already on disk under the same key is reused, a new one is
    written as soon as it is complete. Raises what the evaluation raises."""
    from kizami.core.checkpoint import count_parameters
    from kizami.runtime.evaluate import evaluate, result_key

    settings = job.recipe.eval
    results_dir = job.out / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    key = result_key(path, settings, reference)
    cached = results_dir / f"{name}.json"
    with contextlib.suppress(OSError, ValueError, KeyError, KizamiError):
        data = json.loads(cached.read_text(encoding="utf-8"))
        if data.get("key") == key:
            return EvalResult.from_dict(data["result"])
    status(f"evaluating {name}")
    result = evaluate(path, reference, settings, n_params=count_parameters(job.model), name=name,
                      progress=prefixed(progress, f"{name}: "), journal_dir=results_dir / "journal")
    # results stream to disk as each build finishes
    manifest.write_atomic(cached, json.dumps({"key": key, "result": result.to_dict()}, indent=1, ensure_ascii=False))
    return result


# The step functions, as a Step calls them; module-level so that a Ray task carries them by name.

def _calibration(job: Job, got: dict[str, Any], io: StepIO) -> Path:
    io.say("calibration set")
    return make_calibration(job)


def _build(step: BuildStep, job: Job, got: dict[str, Any], io: StepIO) -> dict[str, Path]:
    io.say(f"building {step.name}")
    return make_build(job, step, got[Kind.CALIBRATION], io.progress)


def _reference(job: Job, got: dict[str, Any], io: StepIO) -> Any:
    io.say("bf16 reference distributions")
    return make_reference(job, got[Kind.CALIBRATION], io.progress)


def _evaluate(name: str, made_by: str, job: Job, got: dict[str, Any], io: StepIO) -> EvalResult:
    path = got[made_by][name] if made_by else job.model  # bf16 is the checkpoint itself
    return evaluate_build(job, name, path, got[Kind.REFERENCE], progress=io.progress, status=io.say)


def _gpus(device: Any) -> float:
    return 1.0 if str(device or "cpu").startswith("cuda") else 0.0


def make_plan(recipe: RunRecipe) -> Plan:
    """Every step of the recipe's run, in dependency order, with what each asks of a machine. Reads the model's
    config (for the cost model), nothing else."""
    from kizami.formats import get_format

    job = resolve(recipe)
    shape = cost.for_model(job.model)
    settings, opts = recipe.eval, recipe.run

    def step(kind: Kind, name: str, cost_kind: str, needs: tuple[str, ...], fn: Callable[..., Any], threads: Any,
             device: Any, handoff: str = "") -> Step:
        n = cost.need(cost_kind, shape)
        return Step(kind=kind, name=name, needs=needs, fn=fn, cpus=float(opts.cpus or threads or 1), gpus=_gpus(device),
                    memory=n.memory_bytes, wall_s=n.wall_s, handoff=handoff)

    calib, ref = str(Kind.CALIBRATION), str(Kind.REFERENCE)
    steps = [step(Kind.CALIBRATION, "", "calib", (), _calibration, None, None)]
    for b in recipe.builds:
        steps.append(step(Kind.BUILD, b.name, cost.build_kind(b.format), (calib,), functools.partial(_build, b),
                          getattr(b.config, "threads", None), getattr(b.config, "device", None)))
    steps.append(step(Kind.REFERENCE, "", "reference", (calib,), _reference, settings.threads, settings.device,
                      handoff="reference.npz"))
    steps.append(step(Kind.EVALUATE, "bf16", "eval-bf16", (ref,), functools.partial(_evaluate, "bf16", ""),
                      settings.threads, settings.device))
    for b in recipe.builds:
        kind = cost.eval_kind(get_format(b.format).backend)
        for name in b.builds:
            made_by = f"{Kind.BUILD} {b.name}"
            steps.append(step(Kind.EVALUATE, name, kind, (made_by, ref), functools.partial(_evaluate, name, made_by),
                              settings.threads, settings.device))
    return Plan(job=job, steps=tuple(steps))


# ------------------------------------------------------------------------------------------- the failure policy

@dataclass(frozen=True, slots=True)
class Failed:
    """A step that raised: the one line its record carries; for a bug (not a ``KizamiError``), its traceback."""

    text: str
    traceback: str = ""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A step not run because a step it needs failed."""

    need: str


def failure_text(exc: BaseException) -> str:
    """What a failed step records: a kizami error's message, else the last line of the traceback."""
    if isinstance(exc, KizamiError):
        return str(exc)
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def failed(exc: Exception) -> Failed:
    return Failed(failure_text(exc), "" if isinstance(exc, KizamiError) else traceback.format_exc())


def inputs(step: Step, outcomes: dict[str, Any]) -> dict[str, Any] | Skipped:
    """The values ``step`` needs, or ``Skipped`` when one of them did not come."""
    for need in step.needs:
        if isinstance(outcomes[need], (Failed, Skipped)):
            return Skipped(need)
    return {need: outcomes[need] for need in step.needs}


def attempt(step: Step, job: Job, got: dict[str, Any], io: StepIO) -> Any:
    """Run one step: its value, or ``Failed`` with what it raised (Ctrl-C and exits pass through)."""
    try:
        return step.fn(job, got, io)
    except Exception as exc:  # a crash in one engine must not lose the other builds' results
        return failed(exc)


class Gather:
    """The one place a run's outcomes come to, from either executor: it applies the failure policy as each arrives
    and, once all are in, makes the summary, results.json and the reports (``finish``)."""

    def __init__(self, plan: Plan, *, fail_fast: bool) -> None:
        self.plan, self.fail_fast = plan, fail_fast
        self.t0 = time.time()
        self.outcomes: dict[str, Any] = {}
        self.timings: list[dict[str, Any]] = []  # the schedule's rows: where and when each step that ran ran

    def record(self, key: str, outcome: Any) -> None:
        """Take a step's outcome; a failure the run cannot go on from (or any, under ``fail_fast``) raises here."""
        self.outcomes[key] = outcome
        if not isinstance(outcome, Failed):
            return
        if outcome.traceback:
            log.error("step %r failed:\n%s", key, outcome.traceback.rstrip())
        if self.fail_fast or self.plan.step(key).kind in _FATAL:
            raise KizamiError(f"step {key!r} failed: {outcome.text}")

    def ran(self, key: str, *, node: str, start: float, end: float, **extra: Any) -> None:
        """Where and when a step ran (``extra``: what an executor adds, e.g. Ray's attempts)."""
        step = self.plan.step(key)
        self.timings.append({"task": key, "needs": list(step.needs), "node": node, "start_s": round(start - self.t0, 2),
                             "wall_s": round(end - start, 2), **extra})

    def summary(self, status: Status, *, executor: str, nodes: list[str], **extra: Any) -> RunSummary:
        """Once every step is in: the builds made, the results (in the recipe's order: bf16 first, then each step's
        builds) and the failures (each under its build's name), finished into results.json and the reports."""
        job = self.plan.job
        builds: dict[str, Path] = {"bf16": job.model}
        results: dict[str, EvalResult] = {}
        failures: dict[str, str] = {}
        for step in self.plan.steps:
            got = self.outcomes[step.key]
            if isinstance(got, Failed):
                failures[step.name] = got.text  # a fatal step never gets here: it raised in ``record``
            elif isinstance(got, Skipped):
                continue
            elif step.kind == Kind.BUILD:
                builds |= got
            elif step.kind == Kind.EVALUATE:
                results[step.name] = got
        tasks = sorted(self.timings, key=lambda t: t["start_s"])
        schedule = make_schedule(executor, tasks, time.time() - self.t0, nodes=nodes, **extra)
        return finish(job, self.outcomes[Kind.CALIBRATION], builds, results, failures, status, schedule=schedule)


# ------------------------------------------------------------------------------------------- what the run writes

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


def finish(job: Job, calib_dir: Path, builds: dict[str, Path], results: dict[str, EvalResult], failures: dict[str, str],
           status: Status, *, schedule: dict[str, Any] | None = None) -> RunSummary:
    """On the driver, once every evaluation is in: agreement with bf16, the gates, the bundles, results.json and the
    reports. ``results`` is in the recipe's order (bf16 first, then each step's builds)."""
    from kizami.runtime.metrics import metrics, run_order

    recipe, out = job.recipe, job.out
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
