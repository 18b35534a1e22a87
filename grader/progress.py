"""Batch progress on the terminal: a bar with ETA on a terminal, one line per student otherwise."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .records import GradeReport


class BatchProgress:
    """Context manager; call `update(report, done, total)` after each graded submission."""

    def __init__(self, total: int, *, stream: TextIO = sys.stderr, color: bool = True) -> None:
        self._total = total
        self._stream = stream
        self._bar: Progress | None = None
        if stream.isatty() and total:
            console = Console(file=stream, no_color=not color)
            self._bar = Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.description}"), console=console)
            self._task = self._bar.add_task("", total=total)

    def __enter__(self) -> BatchProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, report: GradeReport, done: int, total: int) -> None:
        """Advance by one graded submission."""
        line = progress_line(report, done, total)
        if self._bar is not None:
            self._bar.update(self._task, completed=done, description=report.student)
            self._bar.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self._stream, flush=True)


def progress_line(report: GradeReport, done: int, total: int) -> str:
    """`[3/40] 2151131  85/100  1 error`: one graded submission, plainly."""
    errors = sum(c.status == "error" for c in report.checks)
    failed = sum(c.status == "failed" and not c.advisory for c in report.checks)
    notes = ", ".join(f"{n} {word}" for n, word in ((failed, "failed"), (errors, "error")) if n)
    width = len(str(total))
    return f"[{done:>{width}}/{total}] {report.student}  {report.score:g}/{report.max_score:g}" + (f"  {notes}" if notes else "")
