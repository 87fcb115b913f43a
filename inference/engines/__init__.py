"""What runs a side: the backend contract (``base``), the registry that picks a backend
(``backends``), the backends (``vllm_engine``: vLLM in process; ``remote`` + ``remote_wire``: a
vLLM server; ``hf_engine`` + ``hf_inputs``, ``hf_load``, ``hf_steps``, ``zerogpu``: transformers),
what they share (``prompt``: rendering and counting; ``quant``: the scheme vLLM chose), the
cross-scoring they run (``scoring``), the pool that starts, watches and stops them (``pool``) and a
fake of the contract for tests (``fake``). Only ``hf_steps`` imports torch on import;
the backends load their libraries when they start."""
