"""The base every other folder imports, and which imports nothing of kizami above it: errors, the shared tables
(``constants``), registries, build manifests, progress, checkpoint and GGUF-header reading, FIM dialects, tokenizers,
the llama.cpp toolchain and engine child processes. Importing it loads no engine."""
