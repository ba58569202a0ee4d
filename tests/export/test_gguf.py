"""GGUF export with llama.cpp's real converter, imatrix and quantizer, measured through the llama.cpp backend."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from kizami.core import manifest
from kizami.core.errors import KizamiError
from kizami.core.gguf_header import read_metadata
from kizami.export.gguf import GGUFConfig, detect_pre_tokenizer, export_gguf
from tests.engines import require

require("llama_cpp")


PROGRESS: list[tuple[str, int, int]] = []  # what the first export reported, in kizami's one progress shape


@pytest.fixture(scope="module")
def gguf_builds(tmp_path_factory: pytest.TempPathFactory, standin: Path, calib_build: Path) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("gguf")
    cfg = GGUFConfig(types=("q8_0", "q4_k_m"), imatrix="calib", imatrix_chunks=16, imatrix_ctx=256,
                     license="apache-2.0", base_model="kizami/tiny-fcj", threads=2)
    builds = export_gguf(standin, out / "imat", cfg, calib=calib_build, progress=lambda *event: PROGRESS.append(event))
    cwd = os.getcwd()
    os.chdir(out)  # relative paths, as a user types them (llama.cpp's tools run in their own working folders)
    try:
        plain = export_gguf(Path(os.path.relpath(standin)), Path("plain"), GGUFConfig(types=("q4_k_m",), imatrix="none", threads=2))
    finally:
        os.chdir(cwd)
    return {**builds, "q4_k_m-plain": out / plain["q4_k_m"]}


@pytest.fixture(scope="module")
def gguf_quality(gguf_builds: dict[str, Path], reference) -> dict[str, dict]:
    from kizami.runtime import open_build
    from kizami.runtime.metrics.quality import quality

    return {name: quality(open_build(path, threads=2), reference) for name, path in gguf_builds.items()}


def test_builds_verify_and_carry_tokenizer_metadata(gguf_builds: dict[str, Path], standin: Path, calib_build: Path) -> None:
    tok = json.loads((standin / "tokenizer.json").read_text())
    ids = {t["content"]: t["id"] for t in tok["added_tokens"]}
    calib_id = manifest.load(calib_build).calibration["id"]
    for name, build in gguf_builds.items():
        assert manifest.verify(build) == [], name
        (f,) = build.glob("*.gguf")
        meta = read_metadata(f)
        assert meta["tokenizer.ggml.pre"] == "llama-bpe"
        assert meta["tokenizer.ggml.fim_pre_token_id"] == ids["<|fim_prefix|>"]
        assert meta["tokenizer.ggml.fim_suf_token_id"] == ids["<|fim_suffix|>"]
        assert meta["tokenizer.ggml.fim_mid_token_id"] == ids["<|fim_middle|>"]
        assert meta["tokenizer.ggml.eot_token_id"] == ids["<|eot_id|>"]
        assert "<|start_header_id|>" in meta["tokenizer.chat_template"]
    q4 = read_metadata(next(gguf_builds["q4_k_m"].glob("*.gguf")))
    assert q4["quantize.imatrix.dataset"] == f"{calib_id}.txt" and q4["quantize.imatrix.chunks_count"] == 16
    assert q4["general.license"] == "apache-2.0" and q4["general.base_model.0.name"] == "tiny-fcj"
    assert manifest.load(gguf_builds["q4_k_m"]).calibration["id"] == calib_id
    assert "quantize.imatrix.file" not in read_metadata(next(gguf_builds["q4_k_m-plain"].glob("*.gguf")))
    assert next(gguf_builds["q4_k_m"].glob("*.gguf")).name == "tiny-fcj-7.2M-v1.0-Q4_K_M.gguf"  # GGUF naming convention


def test_f16_matches_the_reference_and_kld_orders_types(gguf_quality: dict[str, dict]) -> None:
    kld = {k: v["kld"]["all"]["mean"] for k, v in gguf_quality.items()}
    assert kld["f16"] < 2e-3 and gguf_quality["f16"]["top1"]["all"] > 0.99
    assert kld["f16"] < kld["q8_0"] < kld["q4_k_m"]
    assert gguf_quality["q8_0"]["top1"]["all"] > 0.97
    # the importance matrix learned from the code + Japanese set must not make Q4_K_M worse
    assert kld["q4_k_m"] <= kld["q4_k_m-plain"] * 1.02


def test_tokenizer_parity_and_fim_through_llama_cpp(gguf_builds: dict[str, Path], standin: Path, reference, eval_settings) -> None:
    from kizami.core.checkpoint import count_parameters
    from kizami.runtime import open_build
    from kizami.runtime.evaluate import evaluate
    from kizami.runtime.metrics.fim import fim_agreement, fim_exact_match

    f16 = evaluate(gguf_builds["f16"], reference, eval_settings, n_params=count_parameters(standin))
    assert f16.section("tokenizer_parity")["match"] == 1.0
    # f16 weights plus the header (vocabulary, merges, chat template): measured 16.31 on the 7.2 M stand-in
    assert f16.section("size")["bits_per_weight"] == pytest.approx(16.0, abs=0.5)
    bf16 = fim_exact_match(open_build(standin, threads=2), reference.fim_tasks, reference.fim_prompts)
    agree = fim_agreement(f16.section("fim"), bf16)
    # the same weights and greedy decode through another engine: only near-ties may flip a completion
    # (measured on the first 24 tasks: 0.96 PSM, 1.0 SPM)
    assert min(agree.values()) >= 0.8, agree
    for mode in ("psm", "spm"):
        assert abs(f16.section("fim")[mode]["em"] - bf16[mode]["em"]) <= 0.05


def test_unknown_pre_tokenizer_fails_clearly_and_leaves_nothing(tmp_path: Path, standin: Path) -> None:
    model = tmp_path / "custom"
    shutil.copytree(standin, model)
    tok = json.loads((model / "tokenizer.json").read_text())
    tok["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = r"\s+|\S+"
    (model / "tokenizer.json").write_text(json.dumps(tok))
    assert detect_pre_tokenizer(model) is None
    with pytest.raises(KizamiError, match="--pre-tokenizer llama-bpe"):
        export_gguf(model, tmp_path / "out", GGUFConfig(types=("q8_0",), imatrix="none"))
    assert not (tmp_path / "out" / "F16").exists()
    assert not list((tmp_path / "out").glob(".kizami-staging-*"))


def test_bad_types_are_rejected_before_any_work() -> None:
    with pytest.raises(KizamiError, match="unknown GGUF type"):
        GGUFConfig(types=("q4_k_x",))


def test_export_reports_its_stages_in_the_one_progress_shape(gguf_builds: dict[str, Path]) -> None:
    """(message, stages done, stages): the base, the imatrix and two types are four stages; the counts within a stage
    (bytes written, tensors quantized) come with the stage's count; done never goes back and ends at the total."""
    stages = {total for _, _, total in PROGRESS}
    assert stages == {4}, PROGRESS[:5]
    done = [d for _, d, _ in PROGRESS]
    assert done == sorted(done) and PROGRESS[-1] == ("done", 4, 4)
    starts = {m: d for m, d, _ in PROGRESS if "/" not in m}  # a stage's first line; the counts within it have a "k/n"
    assert starts["converting to GGUF f16"] == 0 and starts["quantizing Q8_0"] == 2, starts
    assert starts["quantizing Q4_K_M with imatrix"] == 3
    assert any(m.startswith("importance matrix") and d == 1 for m, d, _ in PROGRESS)
    assert any(m.startswith("Q4_K_M tensors") and d == 3 for m, d, _ in PROGRESS)  # llama-quantize's own count


def test_real_llama3_vocabulary_converts_with_fim_ids(tmp_path: Path) -> None:
    require("quicktok")
    from kizami.standin.real_vocab import FIM_IDS, make_random_llama

    model = make_random_llama(tmp_path / "real")
    assert detect_pre_tokenizer(model) == "llama-bpe"
    # the converter recognizes the real Llama 3 tokenizer by its own hash, without kizami's override
    builds = export_gguf(model, tmp_path / "out", GGUFConfig(types=(), imatrix="none", pre_tokenizer="converter"))
    meta = read_metadata(next(builds["f16"].glob("*.gguf")))
    assert meta["tokenizer.ggml.pre"] == "llama-bpe"
    assert len(meta["tokenizer.ggml.tokens"]) == 128256
    assert [meta[f"tokenizer.ggml.fim_{k}_token_id"] for k in ("pre", "mid", "suf")] == [
        FIM_IDS["<|fim_prefix|>"], FIM_IDS["<|fim_middle|>"], FIM_IDS["<|fim_suffix|>"]]
    assert meta["tokenizer.ggml.bos_token_id"] == 128000 and meta["tokenizer.ggml.eot_token_id"] == 128009


def test_llama_cpp_backend_holds_one_context_and_reopening_changes_nothing(gguf_builds: dict[str, Path]) -> None:
    """Scoring and generation each open their own context (one at a time: each holds its own repacked weights);
    switching back and forth must give the same numbers and the same tokens."""
    import numpy as np

    from kizami.runtime import open_build
    from kizami.runtime.backend import GenRequest

    backend = open_build(gguf_builds["q4_k_m"], threads=2)
    try:
        ids = backend.tokenize(["def add(a, b):\n    return a + b\n\nclass Stack:\n    def push(self, x):\n"])[0]
        first = backend.score(ids)
        assert backend._score_ctx is not None and backend._gen is None
        gen1 = backend.generate([GenRequest(prompt=ids[:12], max_new_tokens=12, ignore_stops=True)])[0]
        assert backend._score_ctx is None and backend._gen is not None
        again = backend.score(ids)
        gen2 = backend.generate([GenRequest(prompt=ids[:12], max_new_tokens=12, ignore_stops=True)])[0]
        assert np.allclose(first.target, again.target, atol=1e-5) and np.array_equal(first.argmax, again.argmax)
        assert len(gen1.ids) == 12 and gen1.ids == gen2.ids
    finally:
        backend.close()


def test_batched_generation_and_scoring_equal_one_at_a_time(gguf_builds: dict[str, Path]) -> None:
    from kizami.runtime import open_build
    from tests.batching import check_batching

    check_batching(open_build(gguf_builds["q8_0"], threads=2), sampled_differing=1)


def test_opening_a_gguf_build_loads_no_converter(gguf_builds: dict[str, Path]) -> None:
    from tests.walls import assert_opens_without_converters

    assert_opens_without_converters(gguf_builds["q4_k_m"])
