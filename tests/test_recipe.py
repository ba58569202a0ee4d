"""Run recipes: typed at load, validated whole before any work, builds named from their non-default settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kizami.builders import build_names, get_builder
from kizami.quantize.gptq import GPTQConfig
from kizami.run.gates import Gates
from kizami.run.recipe import RecipeError, builtin_run_recipe, load_run_recipe, to_toml
from kizami.runtime.result import EvalResult


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "r.toml"
    p.write_text(text)
    return p


BASE = 'name = "t"\nmodel = "tiny-fcj"\nout = "o"\n'


@pytest.mark.parametrize(("body", "message"), [
    (BASE, "at least one [[build]]"),
    (BASE + '[[build]]\nformat = "gptqq"\n', "format 'gptqq' is not one of awq, gguf, gptq, onnx; did you mean 'gptq'?"),
    (BASE + '[calib]\n[[build]]\nformat = "awq"\ndesc_act = true\n', "build #1 (awq): unknown key 'desc_act'"),
    (BASE + '[[build]]\nformat = "gguf"\ntypes = ["q8_0", "q4_k_m"]\n', "add a [calib] table"),
    (BASE + '[calib]\n[[build]]\nformat = "gguf"\nbogus = 1\n', "unknown key 'bogus'; allowed: base, base_model"),
    # a value the config refuses fails at load, before the calibration set is built
    (BASE + '[calib]\n[[build]]\nformat = "gptq"\ngroup_size = 96\n', "build #1 (gptq): GPTQ group size 96 is not one of"),
    (BASE + '[calib]\n[[build]]\nformat = "gptq"\nbits = "4"\n', "build #1 (gptq): bits = '4' must be an integer"),
    (BASE + '[calib]\n[[build]]\nformat = "gptq"\ndesc_act = 1\n', "desc_act = 1 must be true or false"),
    (BASE + '[calib]\n[[build]]\nformat = "onnx"\nprecisions = "int4"\n', "precisions must be a non-empty list"),
    (BASE + '[calib]\n[[build]]\nformat = "onnx"\nfrom_build = "x"\n', "unknown key 'from_build'"),
    (BASE + '[[build]]\nformat = "hf"\n', "is a source format"),
    (BASE + '[calib]\nsamples = 0\n[[build]]\nformat = "onnx"\n', "[calib]: need at least 1 sample"),
    (BASE + '[calib]\n[[build]]\nformat = "gguf"\n[eval]\nctx = 64\nstride = 64\n', "stride must be between"),
    (BASE + '[calib]\n[[build]]\nformat = "gguf"\n[gates]\nmax_kld = "low"\n', "[gates]: max_kld = 'low' must be a number"),
    (BASE + '[calib]\n[[build]]\nformat = "gguf"\n[gates]\nmax_kd = 1\n', "[gates]: unknown key 'max_kd'"),
    ('name = "t"\n', "'model' must be a non-empty string"),
    (BASE + '[calib]\n[[build]]\nformat = "gguf"\n[eval]\nfim_file = "nope.jsonl"\n', "fim_file"),
    # a metric's own settings: its [eval.<metric>] table, checked like the others
    (BASE + '[calib]\n[[build]]\nformat = "gguf"\n[eval]\nmetrics = ["humaneval"]\n[eval.humaneval]\nsampels = 3\n',
     "[eval.humaneval]: unknown key 'sampels'; allowed: max_new_tokens, problems, problems_limit, protocol, sampled, samples"),
    (BASE + '[calib]\n[[build]]\nformat = "gguf"\n[eval]\nmetrics = ["humaneval"]\n[eval.humaneval]\nsamples = 3\n',
     "[eval.humaneval]: greedy decoding gives the same text 3 times; set sampled=True"),
    (BASE + '[calib]\n[[build]]\nformat = "gguf"\n[eval]\nmetrics = ["humaneval"]\n[eval.humaneval]\nproblems = "no.jsonl"\n',
     "[eval.humaneval]: "),
    (BASE + '[calib]\n[[build]]\nformat = "gguf"\n[eval.longctx]\nlengths = [1024]\n',
     "[eval.longctx] sets a metric that [eval] metrics does not run; add 'longctx' to metrics"),
    (BASE + '[calib]\n[[build]]\nformat = "gguf"\n[eval.humanevl]\nsamples = 1\n', "no metric 'humanevl'. Did you mean 'humaneval'?"),
    (BASE + '[calib]\n[[build]]\nformat = "gguf"\n[eval.size]\nx = 1\n', "[eval.size]: metric 'size' has no settings"),
    (BASE + '[calib]\n[[build]]\nformat = "gguf"\n[eval]\nsamples = 1\n',
     "[eval]: unknown key 'samples'; it is a metric's own setting: write it in [eval.humaneval] or [eval.humaneval-chat]"),
    (BASE + '[calib]\n[[build]]\nformat = "gptq"\n[[build]]\nformat = "gptq"\nbatch_size = 8\n',
     "two [[build]] tables make a build named 'gptq-w4g128'"),
    (BASE + '[calib]\n[[build]]\nformat = "onnx"\nname = "a b"\n', "name 'a b' must be letters"),
    ("name = ", "not valid TOML"),
])
def test_recipes_are_validated_before_anything_runs(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(RecipeError, match=re.escape(message)):
        load_run_recipe(_write(tmp_path, body))


def test_builtin_recipe_loads_typed() -> None:
    recipe = load_run_recipe(builtin_run_recipe())
    assert recipe.model == "tiny-fcj"
    assert recipe.build_names() == ["gptq-w4g128", "awq-w4g128", "gguf-f16", "gguf-q8_0", "gguf-q4_k_m", "gguf-q4_0",
                                    "gguf-mixed", "onnx-int4-cpu"]
    gptq = recipe.builds[0].config
    assert isinstance(gptq, GPTQConfig) and gptq.damp_percent == 0.05 and gptq.samples == 0  # 0: the whole set
    assert recipe.gates.limits["max_kld"] == 0.5 and recipe.calib is not None and recipe.calib.samples == 64
    he = recipe.eval.of("humaneval")  # the demo's [eval.humaneval] table, typed
    assert (he.problems_limit, he.max_new_tokens, recipe.eval.of("fim").sampled) == (8, 96, False)


def test_old_flat_eval_keys_still_work_with_a_deprecation_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old = BASE + ('[calib]\n[[build]]\nformat = "gguf"\n[eval]\nmetrics = ["fim", "humaneval", "humaneval-infill"]\n'
                  'fim_sampled = true\nproblems_limit = 4\nhumaneval_max_new_tokens = 48\ninfill_limit = 2\n')
    new = BASE + ('[calib]\n[[build]]\nformat = "gguf"\n[eval]\nmetrics = ["fim", "humaneval", "humaneval-infill"]\n'
                  '[eval.fim]\nsampled = true\n[eval.humaneval]\nproblems_limit = 4\nmax_new_tokens = 48\n'
                  '[eval.humaneval-infill]\nproblems_limit = 4\nlimit = 2\n')
    with caplog.at_level("WARNING"):
        was = load_run_recipe(_write(tmp_path, old)).eval
    assert was == load_run_recipe(_write(tmp_path, new)).eval
    assert "[eval]: problems_limit is deprecated; write it as [eval.humaneval] problems_limit and " \
           "[eval.humaneval-infill] problems_limit" in caplog.text
    assert "infill_limit is deprecated; write it as [eval.humaneval-infill] limit" in caplog.text


def test_cli_sets_are_metric_tables() -> None:
    from kizami.run.recipe import eval_settings, parse_sets

    sets = parse_sets(["humaneval.samples=4", "humaneval.sampled=true", "longctx.lengths=512,1024",
                       "longctx.kv_cache_types=q8_0", "humaneval.problems=humaneval"])
    assert sets == {"humaneval": {"samples": 4, "sampled": True, "problems": "humaneval"},
                    "longctx": {"lengths": [512, 1024], "kv_cache_types": "q8_0"}}
    settings = eval_settings({"metrics": ["humaneval", "longctx"], **sets}, "kizami eval", Path("."))
    assert settings.of("humaneval").samples == 4 and settings.of("longctx").lengths == (512, 1024)
    assert settings.of("longctx").kv_cache_types == ("q8_0",) and settings.needs() == {"long_stream": 3072}
    with pytest.raises(RecipeError, match=re.escape("--set 'humaneval.samples': write METRIC.KEY=VALUE")):
        parse_sets(["humaneval.samples"])


def test_recipe_round_trips(tmp_path: Path) -> None:
    recipe = load_run_recipe(builtin_run_recipe())
    again = load_run_recipe(_write(tmp_path, to_toml(recipe)))
    assert [(s.name, s.config, dict(s.builds)) for s in again.builds] == \
        [(s.name, s.config, dict(s.builds)) for s in recipe.builds]
    assert (again.calib, again.eval, again.gates, again.bundle) == (recipe.calib, recipe.eval, recipe.gates, recipe.bundle)


@pytest.mark.parametrize(("fmt", "config", "names"), [
    ("gptq", {}, ["gptq-w4g128"]),
    ("gptq", {"desc_act": True}, ["gptq-w4g128-act"]),
    ("gptq", {"sym": False, "damp_percent": 0.1}, ["gptq-w4g128-asym-damp0.1"]),
    ("gptq", {"group_size": -1, "bits": 8, "threads": 2, "device": "cuda"}, ["gptq-w8ch"]),  # threads, device: same weights
    ("awq", {"sym": True}, ["awq-w4g128-sym"]),
    ("gguf", {"types": ("q8_0", "q4_k_m")}, ["gguf-f16", "gguf-q8_0", "gguf-q4_k_m"]),
    # imatrix settings name only the types that learn from it
    ("gguf", {"types": ("q8_0", "q4_k_m"), "imatrix_chunks": 32}, ["gguf-f16", "gguf-q8_0", "gguf-q4_k_m-ic32"]),
    ("gguf", {"types": ("q4_k_m",), "imatrix": "none", "license": "mit"}, ["gguf-f16", "gguf-q4_k_m-noimat"]),
    ("onnx", {}, ["onnx-int4-cpu"]),
    ("onnx", {"target": "cuda"}, ["onnx-int4-cuda"]),  # accuracy_level's default follows the target
    ("onnx", {"accuracy_level": 0, "int4_block_size": 128}, ["onnx-int4-cpu-acc0-b128"]),
])
def test_build_names_show_every_setting_that_changes_the_weights(fmt: str, config: dict, names: list[str]) -> None:
    unit = get_builder(fmt)
    _step, built = build_names(unit, unit.config(**config))
    assert list(built) == names


def test_configs_that_differ_get_different_names() -> None:
    unit = get_builder("gptq")
    seen = {build_names(unit, GPTQConfig(**kw))[0] for kw in ({}, {"desc_act": True}, {"damp_percent": 0.01},
                                                              {"sym": False}, {"true_sequential": False},
                                                              {"skip_modules": ("mlp",)}, {"samples": 16})}
    assert len(seen) == 7


def test_gates_compare_against_the_reference() -> None:
    result = EvalResult(build="b", format="gguf", sections={
        "quality": {"ppl_ratio": {"code": 1.02, "ja": 1.08}, "kld": {"all": {"mean": 0.05}}},
        "fim": {"psm": {"em": 0.30}, "spm": {"em": 0.25}}, "speed": {"decode_tok_s": {"median": 5.0}}})
    ref = EvalResult(build="r", format="hf", sections={"fim": {"psm": {"em": 0.35}, "spm": {"em": 0.40}}})
    limits = {"max_ppl_increase_pct": 5, "max_kld": 0.1, "max_fim_em_drop": 0.1, "min_decode_tok_s": 2}
    g = Gates(limits=limits).verdict(result, ref)
    assert g["checks"]["ppl_increase_pct"]["value"] == pytest.approx(8.0)
    assert not g["checks"]["ppl_increase_pct"]["pass"] and g["checks"]["kld"]["pass"]
    assert g["checks"]["fim_em_drop"]["value"] == pytest.approx(0.15) and not g["checks"]["fim_em_drop"]["pass"]
    assert g["checks"]["decode_tok_s"]["pass"] and not g["pass"]
    skipped = result.with_section("fim", {"skipped": "no FIM tokens"})
    assert "fim_em_drop" not in Gates(limits={"max_fim_em_drop": 0.1}).verdict(skipped, ref)["checks"]


def test_results_round_trip_and_refuse_other_schemas() -> None:
    from kizami.runtime.metrics.quality import kld

    r = EvalResult(build="b", format="onnx", sections={"quality": {"kld": {"all": {"mean": 0.01}}}},
                   gates={"checks": {}, "pass": True})
    assert EvalResult.from_dict(r.to_dict()) == r and kld(r) == 0.01 and r.passed
    # schema 2 (one field per built-in metric, a plug-in's under "extra") is still read, into sections
    old = {"schema": 2, "build": "b", "format": "onnx", "quality": {"kld": {"all": {"mean": 0.01}}}, "fim": None,
           "extra": {"mean_length": {"mean": 3.0}}, "gates": {"checks": {}, "pass": True}}
    assert EvalResult.from_dict(old) == r.with_section("mean_length", {"mean": 3.0})
    with pytest.raises(Exception, match="schema 1"):
        EvalResult.from_dict({**r.to_dict(), "schema": 1})
