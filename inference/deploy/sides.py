"""Which sides to run, from the host's model options: the one ``resolve_specs`` of the app and the
evaluation.

Contract: ``resolve_specs(models, environ)`` turns ``inference.deploy.options.ModelOptions`` into
``ModelSpec``s: ``--model`` sides (a checkpoint or Hugging Face id runs in process; a URL runs on
that OpenAI-compatible server), else the project's pair for this machine (the 9B FP8/BF16 pair on
a CUDA GPU, the tiny pair on CPU); ``--backend`` picks what runs the in-process sides,
``--api-key-env`` the key a server side sends (looked up in ``environ``, the mapping it is given;
never shown). The in-process sides on a GPU get the memory plan (``inference.deploy.gpu``, which
stops the program when they do not fit). A wrong choice raises ``OptionError`` with one sentence
(a key's variable is named, never its value). No gradio, no reading of the environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

from inference.deploy.gpu import has_cuda_gpu, plan_gpu_memory
from inference.deploy.options import IN_PROCESS, ModelOptions, OptionError
from inference.engines.backends import BACKENDS
from inference.spec import CPU_KV_BYTES, MM_LIMITS, ModelSpec, cpu_pair, cpu_spec, gpu_pair


def is_url(model: str) -> bool:
    return model.startswith(("http://", "https://"))


def default_label(model: str) -> str:
    """A side's label when none is given: a server's host:port, or a checkpoint's folder name."""
    return urlparse(model).netloc if is_url(model) else Path(model).name


def resolve_specs(models: ModelOptions, environ: Mapping[str, str]) -> list[ModelSpec]:
    """The sides to run: their models, backends and engine arguments (see the module's contract)."""
    cuda = models.device == "cuda" or (models.device == "auto" and has_cuda_gpu())
    if models.model:
        pairs = [m.split("=", 1) if "=" in m and not is_url(m) else (default_label(m), m) for m in models.model]
        local = [(label, model) for label, model in pairs if not is_url(model)]
        if cuda:
            specs = [ModelSpec(label, model, gpu_pair()[0].engine_args) for label, model in local]
        else:
            tiny = models.tiny_dir.resolve()
            specs = [
                cpu_spec(label, m, core=i % 2, kv_cache_bytes=CPU_KV_BYTES, tiny=Path(m).resolve().is_relative_to(tiny))
                for i, (label, m) in enumerate(local)
            ]
        specs = with_backends(specs, models.backend)
        planned = {s.label: s for s in (plan_gpu_memory(specs) if cuda and specs else specs)}
        specs = [remote_spec(label, model) if is_url(model) else planned[label] for label, model in pairs]
        return with_api_keys(specs, models.api_key_env, environ)
    if models.api_key_env:
        raise OptionError("--api-key-env is for sides served by a URL (--model LABEL=http://…/v1); there are none.")
    if cuda:
        return plan_gpu_memory(with_backends(gpu_pair(models.fp8_model, models.bf16_model), models.backend))
    missing = [d for d in ("bf16", "fp8") if not (models.tiny_dir / d / "config.json").exists()]
    if missing:
        raise OptionError(
            f"No GPU and no tiny checkpoints in {models.tiny_dir} ({', '.join(missing)}): run `make tiny`."
        )
    return with_backends(cpu_pair(models.tiny_dir), models.backend)


def remote_spec(label: str, url: str) -> ModelSpec:
    """A side served by an OpenAI-compatible server (``vllm serve``); its model name is asked of
    the server when the side starts."""
    return ModelSpec(label, "", {"limit_mm_per_prompt": MM_LIMITS}, backend="remote", endpoint=url.rstrip("/"))


def with_api_keys(specs: list[ModelSpec], choices: Sequence[str], environ: Mapping[str, str]) -> list[ModelSpec]:
    """``--api-key-env LABEL=VARIABLE``: that remote side sends the key the variable holds. A missing
    or empty variable, or a label that is not a remote side, is an ``OptionError`` (which names the
    variable, never its value)."""
    remote = {s.label for s in specs if s.backend == "remote"}
    keys = {}
    for choice in choices:
        label, _, name = choice.partition("=")
        if not name:
            raise OptionError(f"--api-key-env {choice}: give it as LABEL=VARIABLE, e.g. BF16=BF16_API_KEY.")
        if label not in remote:
            sides = ", ".join(sorted(remote)) or "none"
            raise OptionError(f"--api-key-env {choice}: {label} is not a side served by a URL (those are: {sides}).")
        if not environ.get(name):
            raise OptionError(f"--api-key-env {choice}: the environment variable {name} is not set or empty.")
        keys[label] = environ[name]
    return [replace(s, api_key=keys[s.label]) if s.label in keys else s for s in specs]


def with_backends(specs: list[ModelSpec], choices: Sequence[str]) -> list[ModelSpec]:
    """``--backend NAME`` (every side) and ``--backend LABEL=NAME`` (one side), the latter winning."""
    every = [c for c in choices if "=" not in c][-1:]  # the last one given
    per_label = dict(c.split("=", 1) for c in choices if "=" in c)
    labels = {s.label for s in specs}
    for label, name in [*((None, c) for c in every), *per_label.items()]:
        if name not in BACKENDS or name == "remote":
            raise OptionError(f"--backend {name}: unknown; choose one of {IN_PROCESS}.")
        if label is not None and label not in labels:
            raise OptionError(
                f"--backend {label}={name}: no side is labelled {label} (sides: {', '.join(sorted(labels))})."
            )
    return [replace(s, backend=per_label.get(s.label, every[0] if every else s.backend)) for s in specs]
