"""Shared fixtures: the shipped stand-in model, a small calibration build and its bf16 reference.

Sizes are kept small so the whole suite runs in minutes on 2 cores, with real engines throughout.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["KIZAMI_NO_PLUGINS"] = "1"  # the suite tests kizami, not whatever plugins this machine has


@pytest.fixture(scope="session")
def standin() -> Path:
    from kizami.standin import standin_path

    return standin_path()


@pytest.fixture(scope="session")
def calib_build(tmp_path_factory: pytest.TempPathFactory, standin: Path) -> Path:
    from kizami.calib_data.build import CalibConfig
    from kizami.calib_data.recipe import load_recipe
    from kizami.run.calib import build_calib

    out = tmp_path_factory.mktemp("calib") / "calib"
    return build_calib(load_recipe("default"), standin, out, CalibConfig(samples=32, seq_len=256, fim_per_language=4))


@pytest.fixture(scope="session")
def eval_settings():
    from kizami.runtime.evaluate import EvalSettings
    from kizami.runtime.metrics.speed import SpeedSettings

    return EvalSettings(ctx=256, stride=128, max_tokens_per_domain=3000, threads=2,
                        per_metric={"speed": SpeedSettings(prompt_tokens=64, decode_tokens=16, repeats=2)})


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory, standin: Path, calib_build: Path, eval_settings):
    from kizami.runtime.evaluate import make_reference

    return make_reference(standin, calib_build, eval_settings)
