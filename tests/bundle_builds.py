"""Small real builds of the stand-in, made once per test session and shared by the card and lm-eval tests.

Each build lands in a fixed folder under the session's base temp folder, so a second module asking for it reuses it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kizami.core import manifest

__all__ = ["shared_build", "gguf_f16", "onnx_int4", "gptq_w4", "awq_w4", "bundle_of"]


def shared_build(factory: pytest.TempPathFactory, name: str, make) -> Path:
    path = factory.getbasetemp() / "shared-builds" / name
    if not ((path / manifest.MANIFEST_NAME).is_file() and manifest.verify(path) == []):
        path.parent.mkdir(parents=True, exist_ok=True)
        make(path)
    return path


def gguf_f16(factory: pytest.TempPathFactory, standin: Path) -> Path:
    from kizami.export.gguf import GGUFConfig, export_gguf

    root = shared_build(factory, "gguf", lambda out: export_gguf(standin, out, GGUFConfig(types=(), imatrix="none",
                                                                                           threads=2)))
    return root / "F16"


def onnx_int4(factory: pytest.TempPathFactory, standin: Path) -> Path:
    from kizami.export.onnx import ONNXConfig, export_onnx

    return shared_build(factory, "onnx-int4", lambda out: export_onnx(standin, out, ONNXConfig(precision="int4")))


def gptq_w4(factory: pytest.TempPathFactory, standin: Path, calib: Path) -> Path:
    from kizami.quantize.gptq import GPTQConfig, quantize_gptq

    cfg = GPTQConfig(bits=4, group_size=128, samples=8, seq_len=128, threads=2)
    return shared_build(factory, "gptq-w4g128", lambda out: quantize_gptq(standin, out, cfg, calib=calib))


def awq_w4(factory: pytest.TempPathFactory, standin: Path, calib: Path) -> Path:
    from kizami.quantize.awq import AWQConfig, quantize_awq

    cfg = AWQConfig(bits=4, group_size=128, samples=8, seq_len=128, threads=2)
    return shared_build(factory, "awq-w4g128", lambda out: quantize_awq(standin, out, cfg, calib=calib))


def bundle_of(factory: pytest.TempPathFactory, build: Path, name: str) -> Path:
    from kizami.run.bundle import BundleCard, make_bundle

    card = BundleCard(base_model="kizami/tiny-fcj", license="apache-2.0", repo=f"kizami/tiny-fcj-{name}")
    out = factory.getbasetemp() / "shared-bundles" / name
    if not (out / "README.md").is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        make_bundle(build, out, card=card, overwrite=True)
    return out
