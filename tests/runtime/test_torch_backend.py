"""The torch backend and the metrics on the real stand-in model (no fakes)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from kizami.core.checkpoint import count_parameters
from kizami.runtime import open_build
from kizami.runtime.backend import GenRequest
from kizami.runtime.evaluate import evaluate
from kizami.runtime.metrics.fim import fim_em
from kizami.runtime.metrics.quality import kld, quality
from kizami.runtime.result import EvalResult


def _rtn_copy(src: Path, dst: Path, bits: int, group: int) -> Path:
    """A round-to-nearest weight-only copy of the stand-in (symmetric, per group), stored back in bf16."""
    shutil.copytree(src, dst)
    state = load_file(str(src / "model.safetensors"))
    qmax = 2 ** (bits - 1) - 1
    for name, w in state.items():
        if name.endswith("proj.weight"):
            g = w.float().reshape(w.shape[0], -1, group)
            scale = g.abs().amax(-1, keepdim=True).clamp(min=1e-8) / qmax
            state[name] = ((g / scale).round().clamp(-qmax - 1, qmax) * scale).reshape(w.shape).to(w.dtype)
    save_file(state, str(dst / "model.safetensors"), metadata={"format": "pt"})
    return dst


@pytest.fixture(scope="module")
def rtn_builds(tmp_path_factory: pytest.TempPathFactory, standin: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("rtn")
    return {"int8": _rtn_copy(standin, root / "int8", 8, 64), "int4": _rtn_copy(standin, root / "int4", 4, 64)}


def test_reference_against_itself_is_exact(standin: Path, reference) -> None:
    backend = open_build(standin, threads=2)
    q = quality(backend, reference)
    assert q["kld"]["all"]["max"] < 1e-4
    assert q["top1"]["all"] > 0.999
    for d in ("code", "ja", "en"):
        assert q["ppl_ratio"][d] == pytest.approx(1.0, abs=1e-4)


def test_perplexity_equals_a_direct_transformers_computation(standin: Path, reference) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(standin), dtype=torch.float32, local_files_only=True).eval()
    q = quality(open_build(standin, threads=2), reference)
    for domain, dref in reference.domains.items():
        total, count = 0.0, 0
        for w in reference.windows(domain):
            ids = torch.tensor([dref.stream[w.start:w.end].tolist()])
            with torch.inference_mode():
                logp = model(input_ids=ids).logits[0, :-1].float().log_softmax(-1)
            rows = w.rows()
            total += float(logp[rows].gather(1, ids[0, 1:][rows, None]).sum())
            count += rows.stop - rows.start
        assert q["ppl"][domain] == pytest.approx(float(np.exp(-total / count)), rel=1e-4)


def test_bf16_compute_shows_small_nonzero_kld(standin: Path, reference) -> None:
    q = quality(open_build(standin, threads=2, dtype="bf16"), reference)
    assert 0 < q["kld"]["all"]["mean"] < 0.01
    assert q["top1"]["all"] > 0.95


def test_a_tampered_build_is_refused_with_the_verify_report(tmp_path: Path, standin: Path) -> None:
    from kizami.core import manifest
    from kizami.core.errors import ManifestError

    build = tmp_path / "b"
    with manifest.staged_build(build, manifest.Manifest(format="hf")) as stage:
        for f in standin.iterdir():
            shutil.copy(f, stage / f.name)
    data = bytearray((build / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (build / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="model.safetensors: sha256"):
        open_build(build)


def test_kld_orders_precision_and_int8_stays_close(reference, rtn_builds: dict[str, Path]) -> None:
    q8 = quality(open_build(rtn_builds["int8"], threads=2), reference)
    q4 = quality(open_build(rtn_builds["int4"], threads=2), reference)
    assert 0 < q8["kld"]["all"]["mean"] < q4["kld"]["all"]["mean"]
    assert q8["top1"]["all"] > 0.97
    assert q8["top1"]["all"] > q4["top1"]["all"]
    for d in ("code", "ja", "en"):
        assert abs(q8["ppl_ratio"][d] - 1) < 0.01
        assert q4["ppl_ratio"][d] > q8["ppl_ratio"][d] - 0.002


def test_single_line_fim_generation_stops_at_newline(standin: Path, reference) -> None:
    backend = open_build(standin, threads=2)
    reqs = [GenRequest(prompt=p, max_new_tokens=48, stop_strings=("\n",)) for p in reference.fim_prompts["psm"][:6]]
    gens = backend.generate(reqs)
    assert all("\n" not in g.text for g in gens)
    assert any(g.stop_reason in ("stop-string", "eos") for g in gens)
    sampled = [GenRequest(prompt=reference.fim_prompts["psm"][0], max_new_tokens=16, temperature=0.2, top_p=0.95, seed=3)] * 2
    a, b = backend.generate(sampled)
    assert a.ids == b.ids  # seeded sampling is reproducible


def test_evaluate_reports_every_yardstick(standin: Path, reference, eval_settings) -> None:
    result = evaluate(standin, reference, eval_settings, n_params=count_parameters(standin))
    assert result.section("tokenizer_parity")["match"] == 1.0
    assert result.section("size")["bits_per_weight"] == pytest.approx(16.0, abs=0.1)
    fim = result.section("fim")
    assert fim["psm"]["evaluated"] == fim["spm"]["evaluated"] == len(reference.fim_tasks)
    assert 0 <= fim["psm"]["em"] <= 1 and len(fim["psm"]["generations"]) == len(reference.fim_tasks)
    assert set(fim["psm"]["by_language"]) >= {"python", "java", "go"}
    sp = result.section("speed")
    assert sp["prefill_tok_s"]["median"] > 0 and sp["decode_tok_s"]["median"] > 0 and sp["threads"] == 2
    assert sp["memory"]["peak_rss_mib"] > 0
    again = EvalResult.from_dict(json.loads(json.dumps(result.to_dict())))  # plain JSON, and it round-trips
    assert kld(again) == kld(result) and fim_em(again, "psm") == fim_em(result, "psm")
    assert again.sections.keys() == result.sections.keys() and again.section("size") == result.section("size")
    assert np.isfinite(result.section("quality")["ppl"]["ja"])


def test_cuda_device_without_gpu_is_a_clear_error(standin: Path) -> None:
    from kizami.core.errors import KizamiError

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(KizamiError, match="no CUDA GPU"):
        open_build(standin, device="cuda")


def test_fim_prompt_ids_are_the_model_card_layout(standin: Path, reference) -> None:
    from kizami.core.tokenizer import load_tokenizer

    tok = load_tokenizer(standin)
    vocab = tok.get_vocab()
    pre, suf, mid, bos = (vocab[t] for t in ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|begin_of_text|>"))

    def enc(text: str) -> list[int]:
        return tok(text, add_special_tokens=False)["input_ids"]

    for task, psm, spm in zip(reference.fim_tasks, reference.fim_prompts["psm"], reference.fim_prompts["spm"]):
        assert task.suffix.startswith("\n")
        suffix = task.suffix[1:]  # one leading newline removed
        assert psm == [pre, bos, *enc(task.prompt), suf, *enc(suffix), mid]
        assert spm == [pre, suf, *enc(suffix), mid, bos, *enc(task.prompt)]
        assert tok.decode(psm) == f"<|fim_prefix|><|begin_of_text|>{task.prompt}<|fim_suffix|>{suffix}<|fim_middle|>"


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickle_weights_need_opting_in_and_never_run_code(standin: Path, tmp_path: Path, monkeypatch) -> None:
    """A pytorch_model.bin is refused by default; opted in, tensors load (weights_only) and a pickle that carries
    code is refused without running it."""
    from kizami.core.errors import KizamiError

    monkeypatch.chdir(tmp_path)
    for name in ("plain", "hostile"):
        (tmp_path / name).mkdir()
        for f in standin.iterdir():
            if f.is_file() and f.suffix != ".safetensors":
                shutil.copy(f, tmp_path / name / f.name)
    torch.save(load_file(standin / "model.safetensors"), tmp_path / "plain" / "pytorch_model.bin")
    torch.save({"model.embed_tokens.weight": _RunsCode()}, tmp_path / "hostile" / "pytorch_model.bin")
    with pytest.raises(KizamiError, match="only pickle weights"):
        open_build(tmp_path / "plain")
    ids = list(range(10, 60))
    same = open_build(tmp_path / "plain", threads=2, allow_pickle=True).score(ids).target
    assert (same == open_build(standin, threads=2).score(ids).target).all()
    with pytest.raises(KizamiError, match="weights_only loader refused them"):
        open_build(tmp_path / "hostile", threads=2, allow_pickle=True)
    assert not (tmp_path / "PWNED").exists()


def test_batched_generation_and_scoring_equal_one_at_a_time(standin: Path) -> None:
    from kizami.runtime import open_build
    from tests.batching import check_batching

    check_batching(open_build(standin, threads=2))


def test_opening_a_checkpoint_loads_no_converter(standin: Path) -> None:
    from tests.walls import assert_opens_without_converters

    assert_opens_without_converters(standin)
