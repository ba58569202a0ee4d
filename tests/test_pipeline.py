from __future__ import annotations

import re
from pathlib import Path

import pytest

from kizami.pipeline import RecipeError, apply_gates, builtin_run_recipe, load_run_recipe


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "r.toml"
    p.write_text(text)
    return p


BASE = 'name = "t"\nmodel = "tiny-fcj"\nout = "o"\n'


@pytest.mark.parametrize(("body", "message"), [
    (BASE, "at least one [[build]]"),
    (BASE + '[[build]]\nformat = "gptqq"\n', "format 'gptqq' is not one of gguf, onnx, gptq, awq"),
    (BASE + '[calib]\n[[build]]\nformat = "awq"\ndesc_act = true\n', "unknown key(s) ['desc_act']"),
    (BASE + '[[build]]\nformat = "gguf"\ntypes = ["q8_0"]\n', "add a [calib] table"),
    (BASE + '[calib]\n[[build]]\nformat = "gguf"\nbogus = 1\n', "unknown key(s) ['bogus']"),
    (BASE + '[calib]\n[[build]]\nformat = "gguf"\n[eval]\nctx = 64\nstride = 64\n', "stride must be between"),
    (BASE + '[calib]\n[[build]]\nformat = "gguf"\n[gates]\nmax_kld = "low"\n', "must be a number"),
    ('name = "t"\n', "'model' must be a non-empty string"),
    (BASE + '[calib]\n[[build]]\nformat = "gguf"\n[eval]\nfim_file = "nope.jsonl"\n', "fim_file"),
    ("name = ", "not valid TOML"),
])
def test_recipes_are_validated_before_anything_runs(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(RecipeError, match=re.escape(message)):
        load_run_recipe(_write(tmp_path, body))


def test_builtin_recipe_loads() -> None:
    recipe = load_run_recipe(builtin_run_recipe())
    assert recipe.model == "tiny-fcj" and recipe.builds


def test_gates_compare_against_the_reference() -> None:
    result = {"quality": {"ppl_ratio": {"code": 1.02, "ja": 1.08}, "kld": {"all": {"mean": 0.05}}},
              "fim": {"psm": {"em": 0.30}, "spm": {"em": 0.25}}, "speed": {"decode_tok_s": {"median": 5.0}}}
    ref = {"fim": {"psm": {"em": 0.35}, "spm": {"em": 0.40}}}
    g = apply_gates(result, ref, {"max_ppl_increase_pct": 5, "max_kld": 0.1, "max_fim_em_drop": 0.1, "min_decode_tok_s": 2})
    assert g["checks"]["ppl_increase_pct"]["value"] == pytest.approx(8.0)
    assert not g["checks"]["ppl_increase_pct"]["pass"] and g["checks"]["kld"]["pass"]
    assert g["checks"]["fim_em_drop"]["value"] == pytest.approx(0.15) and not g["checks"]["fim_em_drop"]["pass"]
    assert g["checks"]["decode_tok_s"]["pass"] and not g["pass"]
