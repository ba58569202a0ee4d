"""The run-time wall: opening a build of any format loads no builder or converter (kizami.builders, kizami.quantize,
kizami.export).

Checked in a fresh interpreter, where ``sys.modules`` shows everything the open imported. The import linter
cannot see this path: the runtime reaches a format through the registry by name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_PROBE = """
import json, sys
from kizami.runtime import open_build
backend = open_build(sys.argv[1], threads=1)
backend.score(backend.tokenize(["def f(x):\\n    return x"])[0])
backend.close()
print(json.dumps(sorted(sys.modules)))
"""


def modules_loaded_by_opening(build: Path) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(build)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


def assert_opens_without_converters(build: Path, *, engine_may_load: tuple[str, ...] = ()) -> None:
    """No kizami converter module is loaded; nor gptqmodel, unless the engine itself needs it (transformers runs
    GPTQ and AWQ checkpoints on gptqmodel's kernels)."""
    loaded = modules_loaded_by_opening(build)
    converters = [m for m in loaded if m.startswith(("kizami.builders", "kizami.quantize", "kizami.export"))]
    assert not converters, f"opening {build} imported {converters}"
    if "gptqmodel" not in engine_may_load:
        assert "gptqmodel" not in loaded, f"opening {build} imported gptqmodel"
