"""Inside the worker: the student's namespace, and calls into student code that turn failures into data.

Grader code touches a student's object only through this module: calling it
(`call`), creating it (`construct`), looking up a method (`method`).  Whatever
student code does there (raise, exit, lack a method) becomes a StudentFailure
that names the class, the method and the fix, never a grader error.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

import numpy as np

from ..models import FailureKind, Phase, SourceUnit
from .protocol import ChildError, Job

_TB_LIMIT = 3000
_ABSENT = object()
_EXIT_CODE: Any = SystemExit.__dict__["code"]
"""SystemExit's own `code` slot: a student subclass may redefine the attribute."""


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
            # type(), not isinstance(): a student object's __class__ may be a property that raises.
            defined = sorted(str(k) for k, v in self.namespace.items() if issubclass(type(v), type))
            have = ", ".join(defined) or "no classes"
            raise StudentFailure("missing", "import", f"missing: `{name}` is not defined in the graded code (found: {have})")
        return obj

    def call(self, phase: Phase, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call student code (or grader code that reads a student's object); any exception, exit or
        interrupt becomes a StudentFailure."""
        try:
            return fn(*args)
        except StudentFailure:
            raise
        except BaseException as exc:  # noqa: BLE001 - student code may raise anything
            raise self._failure(phase, what, exc) from None

    def construct(self, owner: str, name: str, cls: Any) -> Any:
        """A new `name()`, made the way the grader always makes one: with no arguments.

        `owner` names it for the student ("Relu", "numpy myModel", "PyTorch myModel").
        """
        if not callable(cls):
            raise StudentFailure("missing", "import", f"missing: `{name}` is {type_name(cls)}, not a class; define it as a class")
        try:
            return cls()
        except TypeError as exc:
            if self.student_frames(exc):  # raised inside the student's __init__: an ordinary exception
                raise self._failure("import", f"{name}()", exc) from None
            msg = (f"`{name}()` failed: the grader creates your {owner} with no arguments, but {safe_str(exc)}; "
                   "give every parameter of __init__ after self a default value")
            raise StudentFailure("exception", "import", msg) from None
        except BaseException as exc:  # noqa: BLE001 - student code may raise anything
            raise self._failure("import", f"{name}()", exc) from None

    def method(self, phase: Phase, owner: str, obj: Any, name: str, fix: str) -> Callable[..., Any]:
        """`obj.<name>`, checked to be something to call; a missing one says how to define it (`fix`)."""
        found = self.call(phase, f"{owner.split()[-1]}.{name}", getattr, obj, name, _ABSENT)
        if found is _ABSENT:
            raise StudentFailure("missing", phase, f"missing: your {owner} has no {name} method; {fix}")
        if not callable(found):
            raise StudentFailure("missing", phase, f"missing: your {owner}.{name} is {type_name(found)}, not a method; {fix}")
        return found  # type: ignore[no-any-return]

    def student_frames(self, exc: BaseException) -> list[traceback.FrameSummary]:
        """The frames of `exc`'s traceback that run the student's code, innermost last."""
        try:
            return [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in self.student_files]
        except Exception:  # noqa: BLE001 - a student exception class may break its own __traceback__
            return []

    def student_location(self, exc: BaseException) -> str:
        """' (hw.py, line 12)': where in the student's code `exc` was raised, or ''."""
        frames = self.student_frames(exc)
        return f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""

    def _failure(self, phase: Phase, what: str, exc: BaseException) -> StudentFailure:
        if issubclass(type(exc), SystemExit):  # type(), not isinstance(): __class__ may be a student property
            return StudentFailure("exit", phase, f"exit: `{what}` called sys.exit({_safe_repr(_EXIT_CODE.__get__(exc))}); remove that call")
        if issubclass(type(exc), MemoryError):
            return StudentFailure("memory", phase, f"memory: `{what}` ran out of memory")
        where = self.student_location(exc)
        if issubclass(type(exc), PermissionError):
            msg = f"forbidden: `{what}` tried something the sandbox does not allow ({safe_str(exc)}){where}"
            return StudentFailure("forbidden", phase, msg, self.student_traceback(exc))
        msg = f"`{what}` raised {type_name(exc)}: {safe_str(exc)}{where}"
        return StudentFailure("exception", phase, msg, self.student_traceback(exc))

    def student_traceback(self, exc: BaseException) -> str:
        """The student's frames of `exc`'s traceback and the exception, for the report."""
        lines = traceback.format_list(self.student_frames(exc)) + [f"{type_name(exc)}: {safe_str(exc)}\n"]
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
    except BaseException as exc:  # noqa: BLE001 - a module that exits or interrupts while importing is a warning too
        ws.warnings.append(f"{filename}, line {line}: `{source.strip()[:80]}` failed: {type_name(exc)}: {safe_str(exc)}")


def type_name(obj: object) -> str:
    """The name of `obj`'s class, read so that no student code (a metaclass property) can run or lie."""
    name = type.__dict__["__name__"].__get__(type(obj))
    return str(name) if isinstance(name, str) else "object"


def safe_str(obj: object) -> str:
    """str() that cannot crash on a student object with a broken __str__."""
    try:
        return str(obj)[:500]
    except BaseException:  # noqa: BLE001 - even a __str__ that exits
        return f"<unprintable {type_name(obj)}>"


def _safe_repr(obj: object) -> str:
    try:
        return repr(obj)[:200]
    except BaseException:  # noqa: BLE001 - even a __repr__ that exits
        return f"<unprintable {type_name(obj)}>"
