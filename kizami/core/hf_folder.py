"""Finish every Hugging Face-shaped build the same way, whichever engine wrote it (gptqmodel, the ONNX builder, a copy).

A build must load where users load it, not only in the transformers version that made it:

* the source's tokenizer files and generation config (the yardstick's; engines add pad tokens or force sampling),
* ``tokenizer_class: PreTrainedTokenizerFast`` where transformers 5 wrote ``TokenizersBackend`` (4.x cannot load it),
* the chat template also as ``chat_template.jinja`` (llama.cpp, onnxruntime-genai and vLLM read that file),
* ``rope_theta`` and ``rope_scaling`` next to transformers 5's ``rope_parameters`` (vLLM and transformers 4.x read
  only those, and silently drop Llama 3.1's rope scaling otherwise),
* no machine-specific temporary paths in ``quantization_config`` (two equal builds must be byte-identical).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

__all__ = ["TOKENIZER_FILES", "finish_hf_folder", "rope_for_older_readers"]

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "generation_config.json", "tokenizer.model")


def rope_for_older_readers(config: dict[str, Any]) -> None:
    """Add ``rope_theta`` / ``rope_scaling`` from ``rope_parameters`` (in place; existing keys win)."""
    rope = config.get("rope_parameters")
    if not isinstance(rope, dict):
        return
    if "rope_theta" in rope:
        config.setdefault("rope_theta", rope["rope_theta"])
    scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
    config.setdefault("rope_scaling", scaling if scaling.get("rope_type", "default") != "default" else None)


def _rewrite_json(path: Path, edit: Any) -> None:
    if not path.is_file():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _fix_tokenizer_config(tok_cfg: dict[str, Any]) -> None:
    if tok_cfg.get("tokenizer_class") in (None, "TokenizersBackend"):
        tok_cfg["tokenizer_class"] = "PreTrainedTokenizerFast"


def _fix_config(config: dict[str, Any]) -> None:
    rope_for_older_readers(config)
    qc = config.get("quantization_config")
    if isinstance(qc, dict) and isinstance(qc.get("meta"), dict):
        qc["meta"].pop("offload_to_disk_path", None)  # a random temp path


def finish_hf_folder(source: Path, folder: Path) -> None:
    """Apply every rule above to ``folder``, a build made from the checkpoint ``source``."""
    source, folder = Path(source), Path(folder)
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy(source / name, folder / name)
    _rewrite_json(folder / "tokenizer_config.json", _fix_tokenizer_config)
    tok_cfg = folder / "tokenizer_config.json"
    template = json.loads(tok_cfg.read_text(encoding="utf-8")).get("chat_template") if tok_cfg.is_file() else None
    if isinstance(template, str) and not (folder / "chat_template.jinja").is_file():
        (folder / "chat_template.jinja").write_text(template, encoding="utf-8")
    _rewrite_json(folder / "config.json", _fix_config)
    _rewrite_json(folder / "quantize_config.json", lambda qc: isinstance(qc.get("meta"), dict)
                  and qc["meta"].pop("offload_to_disk_path", None))
