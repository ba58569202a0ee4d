"""Child process that runs gptqmodel (see ``kizami.quantize.common``): ``python -m kizami.quantize._worker SPEC``.

Everything gptqmodel prints goes to the log file named in the spec; this process's stdout carries only JSON events.
"""

from __future__ import annotations

import json
import os
import sys


def main(spec_path: str) -> None:
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    events = os.fdopen(os.dup(1), "w", buffering=1)
    log = open(spec["log"], "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (lives as long as the process)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log

    def emit(**event: object) -> None:
        events.write(json.dumps(event) + "\n")

    import torch

    torch.set_num_threads(int(spec["threads"]))
    emit(event="stage", message="loading gptqmodel")
    import gptqmodel.looper.module_looper as module_looper
    from gptqmodel import BACKEND, AWQConfig, GPTQConfig, GPTQModel

    module_looper._IO_WRITE_SPEED_MB = 1e9  # skips a 100 MB write-speed probe (of $TMPDIR, a local temp folder)
    method = spec["method"]
    config_cls, backend = (GPTQConfig, BACKEND.GPTQ_TORCH) if method == "gptq" else (AWQConfig, BACKEND.AWQ_TORCH)
    # offload_to_disk: the model is a shell whose layers are read from the checkpoint when reached and written to the
    # temp folder once quantized, so memory holds about one layer, not the whole model (16 GiB of fp16 for an 8B)
    qcfg = config_cls(**spec["config"], offload_to_disk=bool(spec.get("offload", True)),
                      offload_to_disk_path=os.path.join(os.getcwd(), "offload"), device=spec["device"])
    emit(event="stage", message="loading the model")
    model = GPTQModel.load(spec["source"], qcfg, dtype=torch.float16, trust_remote_code=False)
    torch.manual_seed(0)  # after load: its warm-up draws from the global generator

    def on_layer(*_args: object, layer_idx: int = -1, submodule_finalized: bool = False, **_kw: object) -> None:
        if submodule_finalized:
            emit(event="layer", layer=int(layer_idx))

    model.layer_callback = on_layer
    rows = [{"input_ids": r, "attention_mask": [1] * len(r)} for r in spec["rows"]]
    emit(event="stage", message=f"quantizing with {len(rows)} calibration rows")
    model.quantize(rows, batch_size=int(spec["batch_size"]), backend=backend)
    emit(event="stage", message="saving")
    model.save(spec["out"])
    emit(event="done")


if __name__ == "__main__":
    main(sys.argv[1])
