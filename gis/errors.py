"""One error hierarchy for GridWatch's domain layer (the Flask and CLI adapters translate it)."""
from __future__ import annotations

from dataclasses import dataclass, field


class GridWatchError(Exception):
    """Base class: a user-facing problem, its message safe to show as is."""


@dataclass
class Problem:
    """One bad row or feature: where it is (``where``, e.g. "row 7" or "feature 3 (code 01)")
    and why it was refused."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class ImportRefused(GridWatchError):
    """Nothing was written, because of these problems."""

    source: str
    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.source}: nothing imported, {len(self.problems)} problem(s):"]
        lines += [f"  {p}" for p in self.problems[:50]]
        if len(self.problems) > 50:
            lines.append(f"  … and {len(self.problems) - 50} more")
        return "\n".join(lines)


@dataclass
class RowProblem(Problem):
    """One refused row of a table file: ``row`` as the sheet numbers it (the header is row 1),
    and the error (its ``field``, ``code`` and ``params`` let the web say it in the reader's
    language: 第 3 行：抽样日期：…)."""

    row: int = 0
    error: ValidationError | None = None


class FileFormatError(GridWatchError):
    """The file cannot be read as the format it claims to be."""


class ValidationError(GridWatchError):
    """``code`` and ``params`` let the web layer say ``message`` in the user's language."""

    def __init__(self, field: str, message: str, code: str = "invalid", **params):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code
        self.params = params
