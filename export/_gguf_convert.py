"""Run llama.cpp's own ``convert_hf_to_gguf.py`` (from the pinned source, with its own gguf-py) in this process,
with two additions kizami needs and the converter lacks:

* ``--pre NAME``: the pre-tokenizer name to write when kizami has established that the tokenizer's pre-tokenizer
  regex equals a known one (the converter only knows tokenizers by a hash of their token ids, so every
  custom-trained or merged tokenizer is otherwise rejected);
* ``--kv JSON``: extra metadata written into the GGUF header (integers as ``uint32``, e.g. the FIM and EOT token
  ids; strings as strings, e.g. ``general.license``, which the converter otherwise takes only from a model card).

Run as ``python -m kizami.export._gguf_convert --llama-cpp ROOT [--pre NAME] [--kv JSON] -- CONVERTER ARGS``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="kizami.export._gguf_convert")
    parser.add_argument("--llama-cpp", required=True, type=Path)
    parser.add_argument("--pre", default="")
    parser.add_argument("--kv", default="{}")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    sys.path[:0] = [str(args.llama_cpp / "gguf-py"), str(args.llama_cpp)]

    import gguf  # the converter's own gguf-py, first on the path
    from conversion import base

    if args.pre:
        base.TextModel.get_vocab_base_pre = lambda self, tokenizer: args.pre

    extra = json.loads(args.kv)
    original = gguf.GGUFWriter.write_header_to_file

    def write_header(self, *a, **kw):
        for key, value in extra.items():
            if isinstance(value, str):
                self.add_string(key, value)
            else:
                self.add_uint32(key, int(value))
        return original(self, *a, **kw)

    gguf.GGUFWriter.write_header_to_file = write_header
    import convert_hf_to_gguf

    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    sys.argv = ["convert_hf_to_gguf.py", *rest]
    convert_hf_to_gguf.main()


if __name__ == "__main__":
    main(sys.argv[1:])
