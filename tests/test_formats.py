"""Formats are registered units: a new one is one file (its reading side and its builder) and one registry line, and
every HF-shaped build leaves the machine it was made on finished the same way."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from safetensors.torch import load_file, save_file

from kizami.builders import Builder, Progress
from kizami.core import manifest
from kizami.core.hf_folder import finish_hf_folder
from kizami.core.manifest import Manifest
from kizami.formats import Format, formats
from tests.hf_checks import assert_finished


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyConfig:
    dtype: str = "float16"
    version: int = 1


class FP16CopyBuilder(Builder):
    """The smallest real format's building side: the checkpoint's weights cast to fp16, in a build folder with its
    manifest."""

    name: ClassVar[str] = "fp16-copy"
    config: ClassVar[type] = CopyConfig

    def build(self, model: Path, out: Path, cfg: Any, *, calib: Path | None,
              progress: Progress = lambda *_: None) -> dict[str, Path]:
        import torch

        params = {"source_sha256": manifest.checkpoint_digest(model)["sha256"], "dtype": cfg.dtype}
        if manifest.is_current(out, params):
            return {"": out}
        with manifest.staged_build(out, Manifest(format=self.name, parameters=params,
                                                 source=manifest.checkpoint_digest(model)), overwrite=True) as stage:
            for f in model.glob("*.safetensors"):
                save_file({k: v.to(getattr(torch, cfg.dtype)) for k, v in load_file(f).items()}, stage / f.name)
            shutil.copy(model / "config.json", stage / "config.json")
            finish_hf_folder(model, stage)
        return {"": out}


class FP16Copy(Format):
    """Its reading side: opened by torch, with its own card text."""

    name: ClassVar[str] = "fp16-copy"
    backend: ClassVar[str] = "torch"
    builder: ClassVar[Any] = FP16CopyBuilder()

    def tags(self, m: Manifest) -> list[str]:
        return ["fp16", "safetensors"]

    def how_to_run(self, build: Path, m: Manifest, repo: str) -> str:
        return f"```python\nAutoModelForCausalLM.from_pretrained('{repo or build.name}')\n```"


RECIPE = """
name = "plugin"
model = "tiny-fcj"
out = "{out}"

[calib]
samples = 8
seq_len = 128
fim_per_language = 1

[[build]]
format = "fp16-copy"

[eval]
ctx = 128
stride = 64
threads = 2
max_tokens_per_domain = 600
metrics = ["quality", "size"]

[gates]
max_kld = 0.001
"""


def test_a_new_format_is_one_unit_through_run_report_and_bundle(tmp_path: Path) -> None:
    from kizami.run.pipeline import run
    from kizami.run.recipe import load_run_recipe

    formats.register("fp16-copy", FP16Copy())
    try:
        recipe_path = tmp_path / "r.toml"
        recipe_path.write_text(RECIPE.format(out=tmp_path / "run"))
        recipe = load_run_recipe(recipe_path)
        assert recipe.build_names() == ["fp16-copy"]
        summary = run(recipe, progress=lambda *_: None, status=lambda _m: None)
        result = summary.results["fp16-copy"]
        # bf16 → fp16 is exact for this model's weights: the build must score as the reference does
        from kizami.runtime.metrics.quality import kld, top1
        from kizami.runtime.metrics.size import bits_per_weight

        k, t = kld(result), top1(result)
        assert k is not None and k < 1e-4 and t is not None and t > 0.99
        assert bits_per_weight(result) == pytest.approx(16.0, abs=0.2) and result.passed
        assert "| fp16-copy | fp16-copy |" in (tmp_path / "run" / "report.md").read_text()
        card = (tmp_path / "run" / "bundles" / "fp16-copy" / "README.md").read_text()
        assert '"fp16"' in card.split("---")[1] and "AutoModelForCausalLM.from_pretrained('fp16-copy')" in card
        assert manifest.verify(tmp_path / "run" / "bundles" / "fp16-copy") == []
        assert_finished(tmp_path / "run" / "builds" / "fp16-copy")
    finally:
        formats.unregister("fp16-copy")
    assert "fp16-copy" not in formats


def test_finishing_an_hf_folder_makes_it_readable_by_older_loaders(tmp_path: Path, standin: Path) -> None:
    source, build = tmp_path / "src", tmp_path / "build"
    shutil.copytree(standin, source)
    build.mkdir()
    config = {k: v for k, v in json.loads((standin / "config.json").read_text()).items()
              if k not in ("rope_scaling", "rope_theta")}  # as transformers 5 writes it: rope_parameters only
    (build / "config.json").write_text(json.dumps({**config, "quantization_config": {"meta": {
        "offload_to_disk_path": "/tmp/gptqmodel_xyz"}}}))
    tok_cfg = json.loads((source / "tokenizer_config.json").read_text())
    (source / "tokenizer_config.json").write_text(json.dumps({**tok_cfg, "tokenizer_class": "TokenizersBackend"}))
    finish_hf_folder(source, build)
    assert_finished(build)
    assert json.loads((build / "config.json").read_text())["rope_scaling"]["factor"] == 8.0
    assert "offload_to_disk_path" not in json.loads((build / "config.json").read_text())["quantization_config"]["meta"]
