"""Mixed precision: the allocator against brute force, the bad-input errors, and real budget builds on the stand-in
(llama-quantize with per-tensor types, gptqmodel with per-module bits), scored against bf16."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from kizami.builders.mixed import Sensitivity, allocate, spearman
from kizami.core.errors import KizamiError
from kizami.export.gguf import GGUFConfig, export_gguf
from kizami.quantize.awq import AWQConfig
from kizami.quantize.gptq import GPTQConfig
from kizami.run.recipe import RecipeError, load_run_recipe
from tests.engines import require


def _random_sensitivity(seed: int, tensors: int = 5) -> Sensitivity:
    rng = np.random.default_rng(seed)
    types = ["a", "b", "c"]
    weights = {f"t{i}": int(rng.integers(100, 5000)) for i in range(tensors)}
    bpw = {"a": 2.5, "b": 4.5, "c": 8.5}
    n_bytes = {n: {t: int(w * bpw[t] / 8) for t in types} for n, w in weights.items()}
    cost = {n: dict(zip(types, sorted(rng.exponential(1.0, 3), reverse=True))) for n in weights}
    return Sensitivity(method="kld", types=types, cost=cost, n_bytes=n_bytes, n_weights=weights)


@pytest.mark.parametrize("seed", range(4))
def test_allocator_matches_brute_force_within_the_budget(seed: int) -> None:
    sens = _random_sensitivity(seed)
    names, total = list(sens.cost), sum(sens.n_weights.values())
    for budget in (3.0, 4.0, 5.5, 7.0):
        choice = allocate(sens, budget)
        assert sens.bits_per_weight(choice) <= budget + 1e-9
        # the exact optimum under a budget 0.1 % tighter (the allocator rounds sizes up to 1/4096 of the budget)
        best = min(sum(sens.cost[n][t] for n, t in zip(names, combo))
                   for combo in itertools.product(sens.types, repeat=len(names))
                   if 8 * sum(sens.n_bytes[n][t] for n, t in zip(names, combo)) / total <= budget * 0.999)
        assert sens.predicted(choice) <= best + 1e-12


def test_allocator_keeps_pinned_types_and_refuses_an_impossible_budget() -> None:
    sens = _random_sensitivity(7)
    choice = allocate(sens, 5.0, {"t0": "c"})
    assert choice["t0"] == "c" and sens.bits_per_weight(choice) <= 5.0
    with pytest.raises(KizamiError, match="below the smallest"):
        allocate(sens, 2.0)


def test_spearman() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9487, abs=1e-3)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"budget": (1.5,)}, "outside what the candidates can reach"),
    ({"budget": (9.0,)}, "outside what the candidates can reach"),
    ({"budget": (4.5,), "types": ("q4_k_m",)}, "chooses its own tensor types"),
    ({"budget": (4.5,), "candidates": ("q4_k", "q9_k")}, "candidates must be"),
    ({"tensor_types": ("attn_v",)}, "must be REGEX=TYPE"),
    ({"tensor_types": ("attn_v=q7_k",)}, "must be REGEX=TYPE"),
    ({"tensor_types": ("attn_[v=q6_k",)}, "not a regular expression"),
])
def test_bad_gguf_budgets_fail_at_config(kwargs: dict, message: str) -> None:
    with pytest.raises(KizamiError, match=message):
        GGUFConfig(**kwargs)


def test_bad_gptq_budgets_fail_at_config() -> None:
    with pytest.raises(KizamiError, match="outside what the candidates can reach"):
        GPTQConfig(budget=1.0)
    with pytest.raises(KizamiError, match="must be REGEX=BITS"):
        GPTQConfig(module_bits=("mlp.down_proj=5",))
    with pytest.raises(KizamiError, match="one bit width"):
        AWQConfig(budget=4.0)


def test_a_budget_with_a_fixed_type_is_a_recipe_error(tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text('name = "m"\nmodel = "tiny-fcj"\nout = "o"\n[calib]\n[[build]]\nformat = "gptq"\nbits = 4\nbudget = 3.5\n')
    with pytest.raises(RecipeError, match="remove bits = 4 or the budget"):
        load_run_recipe(recipe)
    recipe.write_text('name = "m"\nmodel = "tiny-fcj"\nout = "o"\n[calib]\n[[build]]\nformat = "gguf"\nbudget = 4.5\n')
    step = load_run_recipe(recipe).builds[0]
    assert step.config.budget == (4.5,) and list(step.builds) == ["gguf-mix4.5"]


def test_a_tensor_pattern_that_matches_nothing_fails_before_any_work(tmp_path: Path, standin: Path) -> None:
    with pytest.raises(KizamiError, match="matches no tensor"):
        export_gguf(standin, tmp_path / "g", GGUFConfig(tensor_types=("attn_qq=q6_k",), imatrix="none"))
    assert not (tmp_path / "g").exists()


@pytest.fixture(scope="module")
def gguf_mixed(tmp_path_factory: pytest.TempPathFactory, standin: Path, calib_build: Path) -> dict[str, Path]:
    require("llama_cpp")
    from kizami.builders import get_builder

    cfg = GGUFConfig(budget=(4.5,), candidates=("q3_k", "q4_k", "q6_k"), sensitivity_rows=4, imatrix_chunks=16,
                     imatrix_ctx=256, threads=2)
    out = tmp_path_factory.mktemp("mixed") / "gguf"
    builds = get_builder("gguf").build(standin, out, cfg, calib=calib_build)
    return {**builds, "f16": out / "F16", "q4_k": out / "candidates" / "Q4_K", "q3_k": out / "candidates" / "Q3_K"}


def test_gguf_candidate_weights_read_back_in_the_transformers_layout(gguf_mixed: dict[str, Path], standin: Path) -> None:
    from kizami.builders.mixed import _dequantizer, _hf_weight, hf_name
    from kizami.core.checkpoint import read_config

    load = _dequantizer(gguf_mixed["f16"], read_config(standin))
    for name in ("blk.1.attn_q.weight", "blk.1.attn_k.weight", "blk.2.ffn_down.weight", "token_embd.weight"):
        original = _hf_weight(standin, hf_name(name))
        np.testing.assert_allclose(load(name), original, atol=2e-3 * np.abs(original).max())


def test_gguf_budget_build_stores_its_choice_and_beats_the_uniform_type_of_its_size(
        gguf_mixed: dict[str, Path], reference) -> None:
    from kizami.core import manifest
    from kizami.core.gguf_header import gguf_file, read_tensors
    from kizami.runtime import open_build
    from kizami.runtime.metrics.quality import quality

    params = manifest.load(gguf_mixed["mix4.5"]).parameters
    stored = read_tensors(gguf_file(gguf_mixed["mix4.5"]))
    assert {n: stored[n].type for n in params["tensor_types"]} == params["tensor_types"]
    assert len(set(params["tensor_types"].values())) >= 2  # mixed, not one type
    sizes = {k: sum(i.n_bytes for n, i in read_tensors(gguf_file(gguf_mixed[k])).items() if n in params["tensor_types"])
             for k in ("mix4.5", "q4_k")}
    assert sizes["mix4.5"] <= sizes["q4_k"]  # no larger than uniform Q4_K over the same tensors
    kld = {k: quality(open_build(gguf_mixed[k], threads=2), reference)["kld"]["all"]["mean"] for k in ("mix4.5", "q4_k", "q3_k")}
    assert kld["mix4.5"] < kld["q4_k"] < kld["q3_k"], kld  # on held-out text the allocator never saw


def test_sensitivity_is_cached_and_resumes_from_its_journal(gguf_mixed: dict[str, Path], standin: Path,
                                                            calib_build: Path, tmp_path: Path) -> None:
    import shutil

    from kizami.builders.mixed import gguf_sensitivity

    candidates = {t: gguf_mixed[t] for t in ("q3_k", "q4_k")}
    folder = tmp_path / "sens"
    first = gguf_sensitivity(standin, candidates, calib_build, folder, method="proxy", rows=2)
    assert first.proxy["token_embd.weight"]["q3_k"] > first.proxy["token_embd.weight"]["q4_k"] > 0
    journal = _journal_for(folder)
    assert not journal.exists()  # removed once the pass completed
    # an interrupted pass left a journal of the tensors done: a re-run takes them from there, measures the rest
    shutil.rmtree(folder)
    entry = {"tensor": "token_embd.weight", "kld": {}, "proxy": {"q3_k": 123.0, "q4_k": 45.0}}
    journal.write_text(json.dumps(entry) + "\n{\"tensor\": \"blk.0.at")  # the last line cut off mid-write
    resumed = gguf_sensitivity(standin, candidates, calib_build, folder, method="proxy", rows=2)
    assert resumed.proxy["token_embd.weight"] == entry["proxy"]
    assert resumed.proxy["output.weight"] == first.proxy["output.weight"]
    assert not journal.exists()


def _journal_for(folder: Path) -> Path:
    """The journal path a sensitivity pass into ``folder`` uses (its name carries a hash of the inputs)."""
    import hashlib

    from kizami.core import manifest

    params = manifest.load(folder).parameters
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return folder.parent / f".{folder.name}-{key}.journal.jsonl"


@pytest.fixture(scope="module")
def gptq_mixed(tmp_path_factory: pytest.TempPathFactory, standin: Path, calib_build: Path) -> Path:
    require("gptqmodel")
    from kizami.builders import get_builder

    cfg = GPTQConfig(budget=3.7, candidates=(3, 4, 8), sensitivity_rows=4, samples=16, threads=2)
    return get_builder("gptq").build(standin, tmp_path_factory.mktemp("gptq") / "mixed", cfg, calib=calib_build)[""]


def test_gptq_budget_build_loads_with_its_per_layer_bits(gptq_mixed: Path, reference) -> None:
    from kizami.builders.mixed import hf_name
    from kizami.core import manifest
    from kizami.runtime import open_build
    from kizami.runtime.metrics.quality import quality

    params = manifest.load(gptq_mixed).parameters
    choice = params["tensor_types"]
    assert params["bpw"] <= 3.7 and len(set(choice.values())) >= 2
    backend = open_build(gptq_mixed, threads=2)
    modules = dict(backend.model.named_modules())
    assert {n: f"w{modules[hf_name(n).removesuffix('.weight')].bits}" for n in choice} == choice
    kld = quality(backend, reference)["kld"]["all"]["mean"]
    # GPTQ's own rounding does no worse than the round-to-nearest stand-in the allocator planned with
    assert 0 < kld < 1.5 * params["predicted_kld"], (kld, params["predicted_kld"])


def test_report_draws_a_heat_map_of_the_chosen_bits() -> None:
    from kizami.run.report_html import _heat_maps
    from kizami.runtime.result import EvalResult

    types = {"token_embd.weight": "q4_k", "blk.0.attn_q.weight": "q3_k", "blk.0.ffn_down.weight": "q6_k",
             "blk.1.attn_q.weight": "q8_0", "output.weight": "q5_k"}
    mixed = {"budget_bpw": 5.0, "bpw": 4.98, "predicted_kld": 0.004, "sensitivity": "kld", "tensor_types": types}
    html = _heat_maps({"bf16": EvalResult(build="x", format="hf"),
                       "gguf-mix5": EvalResult(build="y", format="gguf", sections={"size": {"bytes": 1, "mixed": mixed}})})
    assert html.count("<svg class='heat'") == 1 and "budget 5 bits per weight, stored 4.980" in html
    assert "layer 0 ffn_down: q6_k" in html and "layer 1 attn_q: q8_0" in html and "<title>output: q5_k</title>" in html
    assert "hsl(0," in html and "hsl(120," in html  # fewest bits red, most green
