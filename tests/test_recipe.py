"""Run recipes: typed at load, validated whole before any work, builds named from their non-default settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kizami.formats import build_names, get_format
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
    assert recipe.gates.max_kld == 0.5 and recipe.calib is not None and recipe.calib.samples == 64


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
    unit = get_format(fmt)
    _step, built = build_names(unit, unit.config(**config))
    assert list(built) == names


def test_configs_that_differ_get_different_names() -> None:
    unit = get_format("gptq")
    seen = {build_names(unit, GPTQConfig(**kw))[0] for kw in ({}, {"desc_act": True}, {"damp_percent": 0.01},
                                                              {"sym": False}, {"true_sequential": False},
                                                              {"skip_modules": ("mlp",)}, {"samples": 16})}
    assert len(seen) == 7


def test_gates_compare_against_the_reference() -> None:
    result = EvalResult(build="b", format="gguf",
                        quality={"ppl_ratio": {"code": 1.02, "ja": 1.08}, "kld": {"all": {"mean": 0.05}}},
                        fim={"psm": {"em": 0.30}, "spm": {"em": 0.25}}, speed={"decode_tok_s": {"median": 5.0}})
    ref = EvalResult(build="r", format="hf", fim={"psm": {"em": 0.35}, "spm": {"em": 0.40}})
    g = Gates(max_ppl_increase_pct=5, max_kld=0.1, max_fim_em_drop=0.1, min_decode_tok_s=2).verdict(result, ref)
    assert g["checks"]["ppl_increase_pct"]["value"] == pytest.approx(8.0)
    assert not g["checks"]["ppl_increase_pct"]["pass"] and g["checks"]["kld"]["pass"]
    assert g["checks"]["fim_em_drop"]["value"] == pytest.approx(0.15) and not g["checks"]["fim_em_drop"]["pass"]
    assert g["checks"]["decode_tok_s"]["pass"] and not g["pass"]
    skipped = result.replace(fim={"skipped": "no FIM tokens"})
    assert "fim_em_drop" not in Gates(max_fim_em_drop=0.1).verdict(skipped, ref)["checks"]


def test_results_round_trip_and_refuse_other_schemas() -> None:
    r = EvalResult(build="b", format="onnx", quality={"kld": {"all": {"mean": 0.01}}}, gates={"checks": {}, "pass": True})
    assert EvalResult.from_dict(r.to_dict()) == r and r.kld == 0.01 and r.passed
    with pytest.raises(Exception, match="schema 1"):
        EvalResult.from_dict({**r.to_dict(), "schema": 1})
