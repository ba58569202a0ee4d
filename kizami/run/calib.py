"""Calibration sets as builds: written with a manifest, reused when current, and found the same way by every command.

``kizami.calib_data`` makes the data; this module gives it a folder, a ``kizami.json`` and the one resolver that
``kizami quantize``, ``kizami export gguf`` and ``kizami run`` share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from kizami.calib_data.build import CalibConfig, make_calib
from kizami.calib_data.recipe import Recipe, load_recipe
from kizami.core import manifest
from kizami.core.errors import CalibError, KizamiError
from kizami.core.tokenizer import tokenizer_digest

__all__ = ["build_calib", "is_current", "resolve_calib", "load_calib"]

Progress = Callable[[str], None]


def build_calib(recipe: Recipe, tokenizer_dir: Path, out: Path, cfg: CalibConfig = CalibConfig(), *,
                overwrite: bool = False, progress: Progress = lambda _msg: None) -> Path:
    """Make the calibration set and write it to ``out`` (staged, renamed into place when complete)."""
    data = make_calib(recipe, tokenizer_dir, cfg, progress=progress)
    m = manifest.Manifest(format="calib", parameters=data.parameters, source=data.source,
                          calibration=data.calibration, extra=data.extra)
    progress("writing")
    with manifest.staged_build(out, m, overwrite=overwrite) as stage:
        data.write(stage)
    return out


def is_current(out: Path, recipe: Recipe, tokenizer_dir: Path, cfg: CalibConfig) -> bool:
    """A calibration build can be reused when it verifies and was made from this recipe, tokenizer and size."""
    try:
        m = manifest.load(out)
        return (not manifest.verify(out) and m.parameters.get("recipe_sha256") == recipe.digest()
                and all(m.parameters.get(k) == v for k, v in asdict(cfg).items())
                and (m.source or {}).get("tokenizer_sha256") == tokenizer_digest(tokenizer_dir))
    except KizamiError:
        return False


def load_calib(path: Path) -> manifest.Manifest:
    """The manifest of a calibration build; raises with the fix when ``path`` is something else."""
    m = manifest.load(path)
    if m.format != "calib":
        raise CalibError(f"{path} is a {m.format} build, not a calibration set (`kizami calib build`)")
    return m


def resolve_calib(spec: str | Path, model: Path, *, folder: Path, cfg: CalibConfig = CalibConfig(),
                  progress: Progress = lambda _msg: None) -> Path:
    """The calibration set for ``model``: ``spec`` is ``default`` (the built-in code + Japanese mixture), a mixture
    recipe ``.toml`` (built into ``folder``, or reused from there when current), or a calibration build folder."""
    path = Path(spec)
    if str(spec) != "default" and path.is_dir():
        m = load_calib(path)
        if (m.source or {}).get("tokenizer_sha256") != tokenizer_digest(model):
            raise CalibError(f"calibration set {path} was tokenized with another tokenizer than {model}'s; its ids "
                             "would be another model's: build one with `kizami calib build --tokenizer MODEL`")
        return path
    if str(spec) != "default" and path.suffix != ".toml":
        raise CalibError(f"calibration {spec!s}: not `default`, a calibration build folder or a mixture recipe .toml")
    mixture = load_recipe(str(spec))
    if not is_current(folder, mixture, model, cfg):
        build_calib(mixture, model, folder, cfg, overwrite=True, progress=progress)
    return folder
