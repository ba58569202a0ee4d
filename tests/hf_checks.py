"""What every HF-shaped build (GPTQ, AWQ, ONNX, a plugin's) must carry, checked the same way for each."""

from __future__ import annotations

import json
from pathlib import Path


def assert_finished(build: Path) -> None:
    tok_cfg = json.loads((build / "tokenizer_config.json").read_text())
    assert tok_cfg.get("tokenizer_class") == "PreTrainedTokenizerFast", tok_cfg.get("tokenizer_class")
    assert (build / "tokenizer.json").is_file() and (build / "generation_config.json").is_file()
    assert (build / "chat_template.jinja").is_file()
    if (build / "config.json").is_file():
        config = json.loads((build / "config.json").read_text())
        rope = config.get("rope_parameters") or {}
        assert config.get("rope_theta") == rope.get("rope_theta", config.get("rope_theta"))
        if rope.get("rope_type", "default") != "default":
            assert config.get("rope_scaling", {}).get("rope_type") == rope["rope_type"], config.get("rope_scaling")
