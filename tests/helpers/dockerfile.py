"""The project's Dockerfile as data, for the tests that check it (a helper module, no tests).

Contract: ``instructions(text)`` gives ``(INSTRUCTION, arguments)`` per instruction, continuation
lines joined and comments skipped; ``values``, ``env`` and ``entrypoint`` read one kind of them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each Dockerfile instruction, continuation lines joined."""
    out, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, args = (pending + line).strip().partition(" ")
        out.append((keyword.upper(), " ".join(args.split())))
        pending = ""
    return out


def parsed() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text())


def values(docker, keyword: str) -> list[str]:
    return [args for k, args in docker if k == keyword]


def env(docker) -> dict[str, str]:
    """The variables its ``ENV`` instructions set."""
    pairs = {}
    for args in values(docker, "ENV"):
        pairs.update(re.findall(r"(\w+)=(\S+)", args))
    return pairs


def entrypoint(docker) -> list[str]:
    """The container's command (exec form)."""
    (line,) = values(docker, "ENTRYPOINT")
    return json.loads(line)
