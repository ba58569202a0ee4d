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
import tomllib
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from kizami import manifest
from kizami.errors import KizamiError

__all__ = ["RecipeError", "RunRecipe", "load_run_recipe", "builtin_run_recipe", "run", "apply_gates", "write_reports",
           "load_summary", "run_out", "finished_steps"]

log = logging.getLogger(__name__)

_TOP = {"name", "model", "out", "calib", "build", "eval", "gates", "bundle"}
_BUNDLE = {"enabled", "base_model", "license", "repo", "tar"}
_CALIB = {"recipe", "samples", "seq_len", "fim_per_language"}
_EVAL = {"ctx", "stride", "threads", "device", "fim_sampled", "metrics", "max_tokens_per_domain", "fim_limit", "fim_file"}
_GATES = {"max_ppl_increase_pct", "max_kld", "max_fim_em_drop", "min_decode_tok_s"}
_BUILD_KEYS = {"gguf": {"format", "types", "base", "imatrix", "imatrix_chunks", "imatrix_ctx", "pre_tokenizer", "name",
                        "variant", "license", "base_model", "split_max_size", "threads"},
               "onnx": {"format", "precisions", "target", "accuracy_level", "int4_block_size"},
               "gptq": {"format", "bits", "group_size", "sym", "desc_act", "damp_percent", "true_sequential", "samples",
                        "seq_len", "skip_modules", "batch_size", "device"},
               "awq": {"format", "bits", "group_size", "sym", "samples", "seq_len", "skip_modules", "batch_size",
                       "device"}}


class RecipeError(KizamiError):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecipe:
    name: str
    model: str
    out: str
    calib: dict[str, Any] = field(default_factory=dict)
    builds: tuple[dict[str, Any], ...] = ()
    eval: dict[str, Any] = field(default_factory=dict)
    gates: dict[str, float] = field(default_factory=dict)
    bundle: dict[str, Any] = field(default_factory=dict)
    base_dir: str = "."

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "out": self.out, "calib": self.calib, "build": list(self.builds),
                "eval": self.eval, "gates": self.gates, "bundle": self.bundle}


def _check_keys(where: str, table: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise RecipeError(f"{where} must be a table")
    unknown = set(table) - allowed
    if unknown:
        raise RecipeError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")
    return table


def builtin_run_recipe() -> Path:
    return Path(str(resources.files("kizami") / "recipes" / "tiny-fcj.toml"))


def load_run_recipe(path: Path) -> RunRecipe:
    """Load and validate the whole recipe before anything runs; unknown keys and bad values are errors."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe {path} not found; `kizami init` writes an example")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: not valid TOML ({exc})") from None
    _check_keys(str(path), data, _TOP)
    for key in ("name", "model", "out"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise RecipeError(f"{path}: '{key}' must be a non-empty string")
    builds = data.get("build", [])
    if not isinstance(builds, list) or not builds:
        raise RecipeError(f"{path}: add at least one [[build]] table (format = one of {', '.join(_BUILD_KEYS)})")
    for i, b in enumerate(builds):
        fmt = b.get("format") if isinstance(b, dict) else None
        if fmt not in _BUILD_KEYS:
            raise RecipeError(f"{path}: build #{i + 1}: format {fmt!r} is not one of {', '.join(_BUILD_KEYS)}")
        _check_keys(f"{path}: build #{i + 1}", b, _BUILD_KEYS[fmt])
        if fmt in ("gptq", "awq") and "calib" not in data:
            raise RecipeError(f"{path}: build #{i + 1} ({fmt}) is calibrated; add a [calib] table")
        if fmt == "gguf" and b.get("imatrix", "calib") == "calib" and "calib" not in data:
            raise RecipeError(f"{path}: build #{i + 1} learns an imatrix from calibration data; add a [calib] table "
                              "or set imatrix = \"none\"")
    gates = _check_keys(f"{path}: [gates]", data.get("gates", {}), _GATES)
    for k, v in gates.items():
        if not isinstance(v, (int, float)):
            raise RecipeError(f"{path}: gate {k} must be a number, got {v!r}")
    recipe = RunRecipe(name=data["name"], model=data["model"], out=data["out"],
                       calib=_check_keys(f"{path}: [calib]", data.get("calib", {}), _CALIB), builds=tuple(builds),
                       eval=_check_keys(f"{path}: [eval]", data.get("eval", {}), _EVAL), gates=gates,
                       bundle=_check_keys(f"{path}: [bundle]", data.get("bundle", {}), _BUNDLE), base_dir=str(path.parent))
    _eval_settings(recipe)  # validates ctx/stride/metrics now, not after the builds
    return recipe


def _eval_settings(recipe: RunRecipe) -> Any:
    from kizami.runtime.evaluate import EvalSettings
    from kizami.runtime.metrics.fim import FimSettings

    e = dict(recipe.eval)
    if e.get("fim_file"):  # relative to the recipe, checked (and read) before any build starts
        from kizami.calib_data.fim import read_tasks

        path = Path(e["fim_file"]) if Path(e["fim_file"]).is_absolute() else Path(recipe.base_dir) / e["fim_file"]
        if not path.is_file():
            raise RecipeError(f"[eval] fim_file {path} not found; give a SantaCoder-FIM JSONL file or remove the key")
        read_tasks(path)
        e["fim_file"] = str(path)
    fim = FimSettings(sampled=bool(e.pop("fim_sampled", False)))
    if "metrics" in e:
        e["metrics"] = tuple(e["metrics"])
    try:
        return EvalSettings(fim=fim, **e)
    except (TypeError, KizamiError) as exc:
        raise RecipeError(f"[eval]: {exc}") from None


def apply_gates(result: dict[str, Any], reference: dict[str, Any], gates: dict[str, float]) -> dict[str, Any]:
    """Each gate → {"value", "limit", "pass"}; a metric that was not measured is reported as not checked."""
    checks: dict[str, Any] = {}
    q, fim, sp = result.get("quality", {}), result.get("fim", {}), result.get("speed", {})
    if "max_ppl_increase_pct" in gates and q:
        worst = max((r - 1) * 100 for r in q["ppl_ratio"].values())
        checks["ppl_increase_pct"] = {"value": worst, "limit": gates["max_ppl_increase_pct"]}
    if "max_kld" in gates and q:
        checks["kld"] = {"value": q["kld"]["all"]["mean"], "limit": gates["max_kld"]}
    ref_fim = reference.get("fim", {})
    if "max_fim_em_drop" in gates and "psm" in fim and "psm" in ref_fim:
        drop = max(ref_fim[m]["em"] - fim[m]["em"] for m in ("psm", "spm") if m in fim)
        checks["fim_em_drop"] = {"value": drop, "limit": gates["max_fim_em_drop"]}
    for c in checks.values():
        c["pass"] = c["value"] <= c["limit"]
    if "min_decode_tok_s" in gates and sp:
        v = sp["decode_tok_s"]["median"]
        checks["decode_tok_s"] = {"value": v, "limit": gates["min_decode_tok_s"], "pass": v >= gates["min_decode_tok_s"]}
    return {"checks": checks, "pass": all(c["pass"] for c in checks.values())}


Progress = Callable[[str, int], Callable[[int], None]]
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


def run(recipe: RunRecipe, *, progress: Progress, status: Status, fail_fast: bool = False) -> dict[str, Any]:
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


def _run(recipe: RunRecipe, out: Path, *, progress: Progress, status: Status, fail_fast: bool) -> dict[str, Any]:
    from kizami.calib_data.build import CalibConfig, build_calib, is_current
    from kizami.calib_data.recipe import load_recipe
    from kizami.runtime.evaluate import evaluate, reference_for, result_key
    from kizami.runtime.metrics.size import count_parameters
    from kizami.standin import resolve_model

    base = Path(recipe.base_dir)
    model = resolve_model(recipe.model) if recipe.model == "tiny-fcj" else (base / recipe.model)
    settings = _eval_settings(recipe)

    status("calibration set")
    calib_cfg = CalibConfig(**{k: v for k, v in recipe.calib.items() if k != "recipe"})
    calib_recipe = load_recipe(recipe.calib.get("recipe", "default") if recipe.calib.get("recipe", "default") == "default"
                               else base / recipe.calib["recipe"])
    calib_dir = out / "calib"
    if not is_current(calib_dir, calib_recipe, model, calib_cfg):
        build_calib(calib_recipe, model, calib_dir, calib_cfg, overwrite=True)

    builds: dict[str, Path] = {"bf16": model}
    failures: dict[str, str] = {}
    for spec in recipe.builds:
        opts = {k: (tuple(v) if isinstance(v, list) else v) for k, v in spec.items() if k != "format"}
        label = f"{spec['format']} ({', '.join(opts.get('types', opts.get('precisions', ()))) or opts.get('bits', 4)})"
        status(f"building {label}")
        try:
            builds |= _make_builds(spec["format"], opts, model, out / "builds" / spec["format"], calib_dir, status)
        except KizamiError as exc:
            if fail_fast:
                raise
            failures[label] = str(exc)

    status("bf16 reference distributions")
    reference = reference_for(model, calib_dir, settings, progress)
    n_params = count_parameters(model)
    results_dir = out / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for name, path in builds.items():
        key = result_key(path, settings, reference)
        cached = results_dir / f"{name}.json"
        if cached.is_file():
            data = json.loads(cached.read_text(encoding="utf-8"))
            if data.get("key") == key:
                results[name] = data["result"]
                continue
        status(f"evaluating {name}")
        try:
            result = evaluate(path, reference, settings, n_params=n_params, progress=progress,
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
        result["name"] = name
        results[name] = result
        # results stream to disk as each build finishes
        manifest.write_atomic(cached, json.dumps({"key": key, "result": result}, indent=1, ensure_ascii=False))

    if not failures:  # journals of evaluations that were abandoned (settings changed mid-run) are of no further use
        shutil.rmtree(results_dir / "journal", ignore_errors=True)
    from kizami.runtime.metrics.fim import fim_agreement

    ref_fim = results.get("bf16", {}).get("fim") or {}
    for name, result in results.items():
        if name != "bf16" and ref_fim and result.get("fim") and "skipped" not in result["fim"]:
            result["fim"]["agreement"] = fim_agreement(result["fim"], ref_fim)
        result["gates"] = apply_gates(result, results.get("bf16", {}), recipe.gates) if name != "bf16" else None
    summary = {"recipe": recipe.to_dict(), "calibration": manifest.load(calib_dir).calibration, "results": results,
               "failures": failures}
    if recipe.bundle.get("enabled", True):
        _write_bundles(recipe, summary, {n: p for n, p in builds.items() if n != "bf16" and n in results},
                       out / "bundles", status)
    manifest.write_atomic(out / "results.json", json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    write_reports(out, summary)
    return summary


def _write_bundles(recipe: RunRecipe, summary: dict[str, Any], builds: dict[str, Path], out: Path,
                   status: Status) -> None:
    """A deployable bundle per measured build (hard links: no extra space), its card carrying the run's figures."""
    from kizami.bundle import make_bundle

    opts = {k: recipe.bundle[k] for k in ("base_model", "license", "repo") if k in recipe.bundle}
    for name, path in builds.items():
        status(f"bundling {name}")
        try:
            make_bundle(path, out / name, results=summary, tarball=bool(recipe.bundle.get("tar", False)),
                        overwrite=True, **opts)
        except KizamiError as exc:
            summary["failures"][f"bundle {name}"] = str(exc)


def write_reports(out: Path, summary: dict[str, Any]) -> list[Path]:
    """report.md and report.html (self-contained) next to results.json; returns their paths."""
    from kizami.report_html import html_report
    from kizami.report_text import markdown_report

    manifest.write_atomic(out / "report.md", markdown_report(summary) + "\n")
    manifest.write_atomic(out / "report.html", html_report(summary) + "\n")
    return [out / "report.md", out / "report.html"]


def load_summary(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise KizamiError(f"{run_dir} has no results.json; give the `out` folder of a finished `kizami run`")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KizamiError(f"{path} is not valid JSON ({exc}); re-run `kizami run` to rewrite it") from None
    if not isinstance(summary, dict) or not {"recipe", "results"} <= summary.keys():
        raise KizamiError(f"{path} is not a kizami results file (no recipe/results)")
    return summary


def _make_builds(fmt: str, opts: dict[str, Any], model: Path, out: Path, calib: Path, status: Status) -> dict[str, Path]:
    """One [[build]] table → {build name: folder}. A new format adds one branch here."""
    if fmt == "gguf":
        from kizami.export.gguf import GGUFConfig, export_gguf

        made = export_gguf(model, out, GGUFConfig(**opts), calib=calib, progress=status)
        return {f"gguf-{t}": p for t, p in made.items()}
    if fmt in ("gptq", "awq"):
        from kizami.quantize.awq import AWQConfig, quantize_awq
        from kizami.quantize.gptq import GPTQConfig, quantize_gptq

        params = manifest.load(calib).parameters  # by default every calibration row of the run's set
        opts = {"samples": params["samples"], "seq_len": params["seq_len"], **opts}
        cfg = (GPTQConfig if fmt == "gptq" else AWQConfig)(**opts)
        name = f"{fmt}-w{cfg.bits}g{cfg.group_size}"
        fn = quantize_gptq if fmt == "gptq" else quantize_awq
        return {name: fn(model, out / name.removeprefix(f"{fmt}-"), cfg, calib=calib, force=True,
                         progress=lambda msg, _done, _total: status(f"{fmt.upper()}: {msg}"))}
    from kizami.export.onnx import ONNXConfig, export_onnx

    precisions = opts.pop("precisions", ("int4",))
    configs = {p: ONNXConfig(precision=p, **opts) for p in precisions}  # validates every pair before building any
    return {f"onnx-{p}-{c.target}": export_onnx(model, out / f"{p}-{c.target}", c, progress=status) for p, c in configs.items()}
