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
import shutil
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kizami import manifest
from kizami.errors import KizamiError
from kizami.recipe import RunRecipe
from kizami.render import eta_suffix
from kizami.runtime.result import EvalResult

__all__ = ["RunSummary", "run", "write_reports", "load_summary", "run_out", "finished_steps"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int], Callable[[int], None]]
Status = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    """What a run produced: results.json, read back by `kizami report` and the bundles."""

    recipe: dict[str, Any]
    calibration: dict[str, Any] | None
    results: dict[str, EvalResult]
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def reference(self) -> EvalResult | None:
        return self.results.get("bf16")

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "calibration": self.calibration,
                "results": {n: r.to_dict() for n, r in self.results.items()}, "failures": self.failures}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        return cls(recipe=data["recipe"], calibration=data.get("calibration"), failures=data.get("failures", {}),
                   results={n: EvalResult.from_dict(r) for n, r in data["results"].items()})


def run_out(recipe: RunRecipe) -> Path:
    return Path(recipe.out) if Path(recipe.out).is_absolute() else Path.cwd() / recipe.out


def finished_steps(out: Path) -> list[str]:
    """What a run left complete in ``out`` (only finished steps have a manifest or a results file): for Ctrl-C."""
    done = ["calibration set"] if (out / "calib" / manifest.MANIFEST_NAME).is_file() else []
    done += [f"build {p.parent.relative_to(out / 'builds').as_posix()}"
             for p in sorted((out / "builds").glob(f"**/{manifest.MANIFEST_NAME}"))]
    done += [f"results {p.stem}" for p in sorted((out / "results").glob("*.json"))]
    return done


def run(recipe: RunRecipe, *, progress: Progress, status: Status, fail_fast: bool = False) -> RunSummary:
    """Run the recipe into its ``out`` folder, which one run at a time may use."""
    out = run_out(recipe)
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


def _make_builds(recipe: RunRecipe, model: Path, out: Path, calib: Path | None, status: Status,
                 fail_fast: bool, failures: dict[str, str]) -> dict[str, Path]:
    from kizami.formats import get_format

    builds: dict[str, Path] = {"bf16": model}
    for step in recipe.builds:
        status(f"building {step.name}")
        fmt = get_format(step.format)

        started: list[float] = []  # when the build first reported a unit count: its ETA in the run's log

        def progress(message: str, done: int, total: int, step_name: str = step.name, started: list[float] = started) -> None:
            if total and not started:
                started.append(time.monotonic())
            if started and 0 < done < total:
                message += eta_suffix(started[0], done, total)
            status(f"{step_name}: {message}")

        try:
            made = fmt.build(model, out / "builds" / step.name, step.config, calib=calib, progress=progress)
        except KizamiError as exc:
            if fail_fast:
                raise
            failures[step.name] = str(exc)
            continue
        builds |= {name: made[stem] for name, stem in step.builds.items()}
    return builds


def _run(recipe: RunRecipe, out: Path, *, progress: Progress, status: Status, fail_fast: bool) -> RunSummary:
    from kizami.calib import resolve_calib
    from kizami.checkpoint import count_parameters
    from kizami.runtime.evaluate import evaluate, reference_for, result_key
    from kizami.runtime.metrics.fim import fim_agreement
    from kizami.runtime.metrics.functional import agreement
    from kizami.standin import resolve_model

    named = resolve_model(recipe.model)  # a stand-in's name, or a path relative to the recipe
    model = named if named.is_absolute() else recipe.path(recipe.model)
    settings = recipe.eval
    from kizami.formats import get_format

    for step in recipe.builds:  # what needs the model to check (a tensor pattern that matches nothing) fails now
        get_format(step.format).check_config(model, step.config)
    status("calibration set")
    spec = recipe.calib_recipe if recipe.calib_recipe == "default" else str(recipe.path(recipe.calib_recipe))
    calib_dir = resolve_calib(spec, model, folder=out / "calib", cfg=recipe.calib)

    failures: dict[str, str] = {}
    builds = _make_builds(recipe, model, out, calib_dir, status, fail_fast, failures)

    status("bf16 reference distributions")
    reference = reference_for(model, calib_dir, settings, progress)
    n_params = count_parameters(model)
    results_dir = out / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, EvalResult] = {}
    for name, path in builds.items():
        key = result_key(path, settings, reference)
        cached = results_dir / f"{name}.json"
        with contextlib.suppress(OSError, ValueError, KeyError, KizamiError):
            data = json.loads(cached.read_text(encoding="utf-8"))
            if data.get("key") == key:
                results[name] = EvalResult.from_dict(data["result"])
                continue
        status(f"evaluating {name}")
        try:
            result = evaluate(path, reference, settings, n_params=n_params, name=name, progress=progress,
                              journal_dir=results_dir / "journal")
        except KizamiError as exc:
            if fail_fast:
                raise
            failures[name] = str(exc)
            continue
        except Exception:  # a crash in one engine must not lose the other builds' results
            if fail_fast:
                raise
            failures[name] = traceback.format_exc().strip().splitlines()[-1]
            continue
        results[name] = result
        # results stream to disk as each build finishes
        manifest.write_atomic(cached, json.dumps({"key": key, "result": result.to_dict()}, indent=1, ensure_ascii=False))

    if not failures:  # journals of evaluations that were abandoned (settings changed mid-run) are of no further use
        shutil.rmtree(results_dir / "journal", ignore_errors=True)
    ref = results.get("bf16")
    for name, result in list(results.items()):
        if name == "bf16":
            continue
        if ref and ref.fim and result.fim and not result.fim_skipped and not ref.fim_skipped:
            result = result.replace(fim={**result.fim, "agreement": fim_agreement(result.fim, ref.fim)})
        if ref and ref.humaneval and result.humaneval:  # share of problems whose outcome equals bf16's
            result = result.replace(humaneval={**result.humaneval, "agreement": agreement(result.humaneval, ref.humaneval)})
        results[name] = result.replace(gates=recipe.gates.verdict(result, ref))
    calibration = manifest.load(calib_dir).calibration
    summary = RunSummary(recipe=dict(recipe.raw), calibration=dict(calibration) if calibration else None, results=results,
                         failures=failures)
    if recipe.bundle.enabled:
        _write_bundles(recipe, summary, {n: p for n, p in builds.items() if n != "bf16" and n in results},
                       out / "bundles", status)
    manifest.write_atomic(out / "results.json", json.dumps(summary.to_dict(), indent=1, ensure_ascii=False) + "\n")
    write_reports(out, summary)
    return summary


def _write_bundles(recipe: RunRecipe, summary: RunSummary, builds: dict[str, Path], out: Path,
                   status: Status) -> None:
    """A deployable bundle per measured build (hard links: no extra space), its card carrying the run's figures."""
    from kizami.bundle import BundleCard, make_bundle

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
    from kizami.report_html import html_report
    from kizami.report_text import markdown_report

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
