"""A vLLM engine's insides, for the tests that watch its processes: the EngineCore's pid, which CPU
kernel library a process loaded, and a coroutine run on the loop the engine streams in."""

from __future__ import annotations

from pathlib import Path


def kernel_library(pid: int) -> str:
    """Which of vLLM's CPU kernel libraries a process has loaded (``_C_AVX2``, ``_C_AVX512`` or
    ``_C``, the AVX-512 BF16 one)."""
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    libs = {line.rsplit("/", 1)[-1].split(".")[0] for line in maps if "/vllm/_C" in line}
    return ", ".join(sorted(libs)) or "none"


def core_pid(engine) -> int:
    """The pid of an engine's EngineCore process (vLLM's process manager knows it)."""
    return engine._llm.engine_core.resources.engine_manager.processes[0].pid


def on_engine_loop(engine, coro, timeout: float = 10):
    """Run a coroutine of the engine's in the server loop that streams from it; its result."""
    import asyncio

    loop = engine._llm.output_handler.get_loop()
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)
