"""Inside the worker: the student's namespace, and calls into student code that turn failures into data."""

from __future__ import annotations

import traceback
from typing import Any, Callable

import numpy as np

from ..models import FailureKind, Phase, SourceUnit
from .protocol import ChildError, Job

_TB_LIMIT = 3000


class StudentFailure(Exception):
    """Student code failed; carries the failure as data for the report."""

    def __init__(self, kind: FailureKind, phase: Phase, message: str, tb: str = "") -> None:
        super().__init__(message)
        self.error = ChildError(kind=kind, phase=phase, message=message, traceback=tb[-_TB_LIMIT:])


class Workspace:
    """The student's namespace plus what the task reports back."""

    def __init__(self, job: Job, inputs: dict[str, np.ndarray]) -> None:
        self.job = job
        self.params = job.params
        self.inputs = inputs
        self.values: dict[str, Any] = {}
        self.arrays: dict[str, np.ndarray] = {}
        self.warnings: list[str] = []
        self.namespace: dict[str, Any] = {"__name__": "student", "__builtins__": __builtins__}
        self.student_files: set[str] = set()
        self.broken: dict[str, StudentFailure] = {}
        """Definitions whose execution failed; the failure is raised only when a task needs them."""

    def require(self, name: str) -> Any:
        """The student's class or function `name`, or the failure that stopped its definition."""
        if name in self.broken:
            raise self.broken[name]
        obj = self.namespace.get(name)
        if obj is None:
            defined = sorted(k for k, v in self.namespace.items() if isinstance(v, type))
            have = ", ".join(defined) or "no classes"
            raise StudentFailure("missing", "import", f"missing: `{name}` is not defined in the graded code (found: {have})")
        return obj

    def call(self, phase: Phase, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call student code; any exception, exit or interrupt becomes a StudentFailure."""
        try:
            return fn(*args)
        except StudentFailure:
            raise
        except SystemExit as exc:
            raise StudentFailure("exit", phase, f"exit: `{what}` called sys.exit({exc.code!r}); remove that call") from None
        except MemoryError:
            raise StudentFailure("memory", phase, f"memory: `{what}` ran out of memory") from None
        except PermissionError as exc:
            msg = f"forbidden: `{what}` tried something the sandbox does not allow ({_safe_str(exc)}){self._student_location(exc)}"
            raise StudentFailure("forbidden", phase, msg, self._student_traceback(exc)) from None
        except BaseException as exc:  # noqa: BLE001 - student code may raise anything
            where = self._student_location(exc)
            msg = f"`{what}` raised {type(exc).__name__}: {_safe_str(exc)}{where}"
            raise StudentFailure("exception", phase, msg, self._student_traceback(exc)) from None

    def _student_location(self, exc: BaseException) -> str:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in self.student_files]
        return f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""

    def _student_traceback(self, exc: BaseException) -> str:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in self.student_files]
        lines = traceback.format_list(frames) + [f"{type(exc).__name__}: {_safe_str(exc)}\n"]
        return "".join(lines)


def load_code(ws: Workspace) -> None:
    """Execute supplied imports, then each kept unit in order, as a fresh module would."""
    for line in ws.job.supplied_imports:
        _exec_import(ws, line, "<template import>", 1)
    for unit in ws.job.units:
        filename = unit.file_label
        ws.student_files.add(filename)
        if unit.kind == "import":
            _exec_import(ws, unit.source, filename, unit.line)
        else:
            _exec_definition(ws, unit, filename)


def _exec_definition(ws: Workspace, unit: SourceUnit, filename: str) -> None:
    """Define one class/function/constant; a failure costs only the tasks that need this name."""
    try:
        code = _compile(ws, unit, filename)
        ws.call("import", f"defining {unit.name} ({unit.origin})", exec, code, ws.namespace)
    except StudentFailure as failure:
        if unit.name is None:
            raise
        ws.broken[unit.name] = failure


def _compile(ws: Workspace, unit: SourceUnit, filename: str) -> Any:
    # Padding with newlines keeps the student's own line numbers in tracebacks.
    try:
        return compile("\n" * (unit.line - 1) + unit.source, filename, "exec")
    except SyntaxError as exc:
        raise StudentFailure("exception", "import", f"SyntaxError in {unit.origin}: {exc.msg}") from None


def _exec_import(ws: Workspace, source: str, filename: str, line: int) -> None:
    """An import that fails is a warning: students import plotting or Colab helpers we never need."""
    try:
        exec(compile("\n" * (line - 1) + source, filename, "exec"), ws.namespace)
    except Exception as exc:  # noqa: BLE001
        ws.warnings.append(f"{filename}, line {line}: `{source.strip()[:80]}` failed: {type(exc).__name__}: {_safe_str(exc)}")


def _safe_str(obj: object) -> str:
    """str() that cannot crash on a student object with a broken __str__."""
    try:
        return str(obj)[:500]
    except Exception:  # noqa: BLE001
        return f"<unprintable {type(obj).__name__}>"
