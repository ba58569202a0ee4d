"""Metrics are registered units: one registered from outside, with settings of its own, goes through `kizami eval`,
`kizami run`, the report, the model card and a gate, like a built-in; then it is gone again."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from kizami.runtime.backend import GenRequest
from kizami.runtime.metrics import Gate, Metric, MetricContext, metrics
from kizami.runtime.result import EvalResult


@dataclass(frozen=True, slots=True, kw_only=True)
class MeanLengthSettings:
    prompts: int = 4  # how many FIM prompts
    max_new_tokens: int = 12
    version: int = 1

    def __post_init__(self) -> None:
        if self.prompts < 1:
            raise ValueError(f"prompts must be 1 or more, got {self.prompts}")


class MeanLength(Metric):
    """Mean number of tokens the build generates, greedily, after the first FIM prompts (a real measurement through
    the Backend protocol, small enough for a test)."""

    name: ClassVar[str] = "mean-length"
    config_class: ClassVar[type[Any] | None] = MeanLengthSettings
    columns: ClassVar[tuple[str, ...]] = ("mean len",)
    gates: ClassVar[dict[str, Gate]] = {"max_mean_length": Gate(lambda r, _ref: (r.section("mean_length") or {}).get("mean"))}

    def run(self, ctx: MetricContext) -> dict[str, Any]:
        prompts = [list(p) for p in next(iter(ctx.reference.fim_prompts.values()))[:ctx.config.prompts]]
        gens = ctx.backend.generate([GenRequest(prompt=p, max_new_tokens=ctx.config.max_new_tokens, stop_strings=("\n",))
                                     for p in prompts])
        return {"mean": sum(len(g.ids) for g in gens) / len(gens), "lengths": [len(g.ids) for g in gens]}

    def compare(self, section: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
        return {**section, "same_as_bf16": section["lengths"] == reference["lengths"]}

    def cells(self, result: EvalResult) -> list[str]:
        section = result.section("mean_length")
        return [f"{section['mean']:.2f}" if section else "—"]

    def summary(self, result: EvalResult) -> list[tuple[str, str]]:
        section = result.section("mean_length")
        return [("mean generated length", f"{section['mean']:.2f} tokens")] if section else []


RECIPE = """
name = "metric-plugin"
model = "tiny-fcj"
out = "{out}"

[calib]
samples = 8
seq_len = 128
fim_per_language = 1

[[build]]
format = "gguf"
types = ["q8_0"]
imatrix = "none"
threads = 2

[eval]
threads = 2
metrics = ["mean-length", "size"]

[eval.mean-length]
prompts = 3

[gates]
max_mean_length = 0.5
"""


def test_a_new_metric_is_one_unit_through_eval_run_report_card_and_gate(tmp_path: Path, calib_build: Path) -> None:
    from typer.testing import CliRunner

    from kizami.cli.app import app
    from kizami.run.pipeline import run
    from kizami.run.recipe import RecipeError, load_run_recipe

    metrics.register("mean-length", MeanLength())
    try:
        # kizami eval: the task is known, measured, written and shown in the closing table
        res = CliRunner().invoke(app, ["eval", "tiny-fcj", "--data", str(calib_build), "--ref", "tiny-fcj",
                                       "--tasks", "mean-length", "--set", "mean-length.prompts=2", "--threads", "2",
                                       "-o", str(tmp_path / "e.json")])
        assert res.exit_code == 0, res.output
        written = json.loads((tmp_path / "e.json").read_text())
        section = written["mean_length"]  # beside the built-ins' sections
        assert 1 <= section["mean"] <= 12 and len(section["lengths"]) == 2  # its own setting, from --set
        assert written["settings"]["per_metric"]["mean-length"] == {"prompts": 2, "max_new_tokens": 12, "version": 1}
        assert "mean generated length" in res.output and f"{section['mean']:.2f} tokens" in res.output

        # kizami run: the recipe's [eval] and [gates] take it; the report and the card show it; its gate decides
        recipe_path = tmp_path / "r.toml"
        recipe_path.write_text(RECIPE.format(out=tmp_path / "run"))
        summary = run(load_run_recipe(recipe_path), progress=lambda *_: None, status=lambda _m: None)
        build, ref = summary.results["gguf-q8_0"], summary.results["bf16"]
        mine = build.section("mean_length")
        assert mine["mean"] >= 1 and len(ref.section("mean_length")["lengths"]) == 3  # [eval.mean-length] prompts
        assert isinstance(mine["same_as_bf16"], bool)  # compared with bf16's once both were in
        assert build.gates["checks"]["mean_length"] == {"value": mine["mean"], "limit": 0.5, "pass": False}
        assert build.passed is False
        report = (tmp_path / "run" / "report.md").read_text()
        assert "| mean len | gates |" in report  # its column, after the built-ins'
        assert f"| {mine['mean']:.2f} |" in report
        card = (tmp_path / "run" / "bundles" / "gguf-q8_0" / "README.md").read_text()
        assert "mean len" in card and f"| {mine['mean']:.2f} |" in card
        html = (tmp_path / "run" / "report.html").read_text()
        assert "<th>mean len</th>" in html and f"<td>{mine['mean']:.2f}</td>" in html

        # its table is checked at load like a built-in's: an unknown key names the table and what it allows
        recipe_path.write_text(RECIPE.format(out=tmp_path / "run").replace("prompts = 3", "promts = 3"))
        with pytest.raises(RecipeError, match=re.escape("[eval.mean-length]: unknown key 'promts'; allowed: max_new_tokens, prompts")):
            load_run_recipe(recipe_path)
    finally:
        metrics.unregister("mean-length")
    assert "mean-length" not in metrics


def test_unknown_task_names_get_a_did_you_mean(calib_build: Path) -> None:
    import subprocess
    import sys

    from kizami.core.errors import UnknownName
    from kizami.runtime.evaluate import EvalSettings

    res = subprocess.run([sys.executable, "-m", "kizami", "eval", "tiny-fcj", "--data", str(calib_build), "--tasks",
                          "ppl,humaneal"], capture_output=True, text=True)
    assert res.returncode == 1 and "Did you mean 'humaneval'?" in res.stderr and "Traceback" not in res.stderr

    with pytest.raises(UnknownName, match="Did you mean 'longctx'"):
        EvalSettings(metrics=("longcxt",))
