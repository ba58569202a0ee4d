"""The engines behind the one Backend protocol (``kizami.runtime.backend``): torch/transformers, llama.cpp and
onnxruntime-genai, each over the shared half in ``base``. They register here by target string, so importing this
package loads no engine; a plugin adds its own through the ``kizami.backends`` entry-point group.
"""

from __future__ import annotations

from kizami.core.registry import Registry

__all__ = ["engines"]

engines: Registry[type] = Registry("backend", entry_points="kizami.backends")
engines.register("torch", "kizami.runtime.backends.torch:TorchBackend")
engines.register("llama-cpp", "kizami.runtime.backends.llamacpp:LlamaCppBackend")
engines.register("onnx", "kizami.runtime.backends.onnx:OnnxBackend")
