"""A progress bar on stderr for the `rag` command."""

from __future__ import annotations

import sys
from typing import Any


class ProgressBar:
    """A tqdm bar on stderr fed by a (done, total) callback: ingest's passages, eval's questions."""

    def __init__(self, quiet: bool, unit: str = "passage") -> None:
        self.quiet, self.unit = quiet, unit
        self.bar: Any = None

    def __enter__(self) -> Any:
        return None if self.quiet else self

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            desc = "embedding" if self.unit == "passage" else "asking"
            self.bar = tqdm(total=total, unit=self.unit, desc=desc, file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
