"""Fitting the demo onto a machine and its users: the GPU probe (``gpu``), the GPU memory plan
(``memory``, and docs/deployment.md's table: ``memory_table``), per-user admission limits (``limits``),
stopping a started process group (``processes``).
Pure or subprocess-only: no torch, no vLLM, no engine."""
