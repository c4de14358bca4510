"""The one exception type for bad user input, formatted as a single readable paragraph."""

from __future__ import annotations

import contextlib
from typing import Any

MISSING = object()


def _show(value: Any) -> str:
    if hasattr(value, "item") and callable(value.item):  # numpy scalars print as Python ones
        with contextlib.suppress(TypeError, ValueError):
            value = value.item()
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class InputError(Exception):
    """Bad input from a config, a trace file or a command-line flag.

    The CLI prints ``str(error)`` and exits with status 2, without a traceback. The
    message names where the input came from, the dotted key, the offending value and
    what was expected, so a user can fix it without reading code.
    """

    def __init__(
        self,
        problem: str,
        *,
        source: str | None = None,
        key: str | None = None,
        value: Any = MISSING,
        expected: str | None = None,
    ) -> None:
        self.problem = problem
        self.source = source
        self.key = key
        self.value = value
        self.expected = expected
        super().__init__(self.render())

    def render(self) -> str:
        parts: list[str] = []
        where = self.source or "input"
        head = f"{where}:"
        if self.key:
            head += f" key '{self.key}'"
            if self.value is not MISSING:
                head += f" = {_show(self.value)}"
            head += ":"
        parts.append(head)
        parts.append(self.problem.rstrip("."))
        text = " ".join(parts)
        if self.expected:
            text += f"; expected {self.expected.rstrip('.')}"
        return text + "."


def did_you_mean(word: str, options: list[str]) -> str:
    """A ' (did you mean X?)' hint, or '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
