"""``kizami eval``: one build measured against its bf16 source, the result written next to the build."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from kizami.core import manifest
from kizami.core.errors import KizamiError
from kizami.core.progress import Progress, no_progress
from kizami.runtime.evaluate import EvalSettings, evaluate, reference_for
from kizami.runtime.result import EvalResult

__all__ = ["evaluate_build"]


def evaluate_build(build: str, data: Path, settings: EvalSettings, *, ref: str | None = None, out: Path | None = None,
                   progress: Progress = no_progress) -> tuple[EvalResult, Path]:
    """Evaluate ``build`` (a folder or a stand-in's name) against ``ref`` (default: the source in its manifest) on the
    held-out sets of the calibration build ``data``; writes the result JSON (default ``BUILD.eval.json``)."""
    from kizami.core.checkpoint import count_parameters
    from kizami.runtime import check_build
    from kizami.standin import resolve_model

    build_path = resolve_model(build)
    check_build(build_path)  # a damaged build fails now, not after the reference is computed
    if ref is None:
        source = manifest.load(build_path).source if (build_path / manifest.MANIFEST_NAME).is_file() else None
        if not source or "path" not in source:
            raise KizamiError(f"{build_path} names no source checkpoint; pass --ref with the bf16 model")
        ref = source["path"]
    ref_path = resolve_model(ref)
    # next to the build, except for a shipped stand-in (never write into the installed package)
    shipped = build_path != Path(build)
    out = out or (Path(f"{build_path.name}.eval.json") if shipped else build_path.with_name(build_path.name + ".eval.json"))
    journal = out.with_name(f".{out.name}.journal")  # FIM completions as they are made: an interrupted eval resumes
    reference = reference_for(ref_path, data, settings, progress)
    result = evaluate(build_path, reference, settings, n_params=count_parameters(ref_path), progress=progress,
                      journal_dir=journal)
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_atomic(out, json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    with contextlib.suppress(OSError):
        journal.rmdir()
    return result, out
