"""Screenshots a test takes: always under ``tests/artifacts/``, into ``docs/`` only when asked.

Contract: ``Pictures(artifacts, docs)`` (the ``pictures`` fixture in ``tests/conftest.py`` builds
it) has one method, ``shoot(target, name, docs=..., **screenshot options)``: it writes
``artifacts/name`` with Playwright's ``screenshot`` and returns that path; where the test names a
docs picture (``docs="screenshot-….png"``) and the run was started with ``--docs-pictures``
(``make docs-pictures``), it also copies it to ``docs/``. A normal run writes nothing under
``docs/``; this module is the only test code that does (``tests/test_pictures.py`` holds that).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Pictures:
    artifacts: Path  # tests/artifacts/ (gitignored)
    docs: Path | None  # docs/, only under --docs-pictures; None on a normal run

    def shoot(self, target: Any, name: str, *, docs: str | None = None, **options: Any) -> Path:
        """``target.screenshot`` (a page or a locator) into ``artifacts/name``; copied to
        ``docs/<docs>`` as well when the run refreshes the docs' pictures."""
        path = self.artifacts / name
        target.screenshot(path=str(path), **options)
        if docs is not None and self.docs is not None:
            shutil.copyfile(path, self.docs / docs)
        return path
