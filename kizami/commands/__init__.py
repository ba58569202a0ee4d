"""The command groups of the `kizami` CLI, one module per group; `kizami.cli` mounts them."""
