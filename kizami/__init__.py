"""kizami: quantize a merged code LLM into GPTQ, AWQ, GGUF and ONNX builds and prove each against bf16.

Importing ``kizami`` loads no engine (torch, llama_cpp, onnxruntime); engines load when a backend or
converter is first used.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
