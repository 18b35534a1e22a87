"""Inside the worker: the student's namespace, and calls into student code that turn failures into data.

Grader code touches a student's object only through this module: calling it
(`call`), creating it (`construct`), looking up a method (`method`).  Whatever
student code does there (raise, exit, lack a method) becomes a StudentFailure
that names the class, the method and the fix, never a grader error.

Every failure is a `Message` (catalog domain `sandbox`); what Python or the
student wrote (an exception's text, a type name) goes in as `verbatim(...)`, and
where in the student's files it was raised goes in as a `Location` too.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

import numpy as np

from ..records import FailureKind, Location, Phase, SourceUnit
from ..text import Message, Verbatim, msg, verbatim
from .protocol import ChildError, Job

_TB_LIMIT = 3000
_ABSENT = object()
_EXIT_CODE: Any = SystemExit.__dict__["code"]
"""SystemExit's own `code` slot: a student subclass may redefine the attribute."""

What = str | Message
"""What the grader was doing with student code: a code name ("Relu.backward", shown as is) or a clause."""


class StudentFailure(Exception):
    """Student code failed; carries the failure as data for the report."""

    def __init__(self, kind: FailureKind, phase: Phase, message: Message, tb: str = "", location: Location | None = None) -> None:
        super().__init__(message.id)
        self.error = ChildError(kind=kind, phase=phase, message=message, traceback=tb[-_TB_LIMIT:], location=location)


class Workspace:
    """The student's namespace plus what the task reports back."""

    def __init__(self, job: Job, inputs: dict[str, np.ndarray]) -> None:
        self.job = job
        self.params = job.params
        self.inputs = inputs
        self.result = ""
        """The task result's JSON (wire.encode_result), once a typed task returned."""
        self.worker_seconds: float | None = None
        self.arrays: dict[str, np.ndarray] = {}
        self.warnings: list[str] = []
        self.namespace: dict[str, Any] = {"__name__": "student", "__builtins__": __builtins__}
        self.student_files: set[str] = set()
        """The file names student code is compiled under (`SourceUnit.file_label`): its frames in a traceback."""
        self.places: dict[str, tuple[str, int | None]] = {}
        """file label -> (file, notebook cell): turns a traceback frame into a `Location`."""
        self.broken: dict[str, StudentFailure] = {}
        """Definitions whose execution failed; the failure is raised only when a task needs them."""

    def clear_result(self) -> None:
        """Forget what the task produced (a report that could not hold it is replaced by the error)."""
        self.result = ""
        self.arrays.clear()

    def require(self, name: str) -> Any:
        """The student's class or function `name`, or the failure that stopped its definition."""
        if name in self.broken:
            raise self.broken[name]
        obj = self.namespace.get(name)
        if obj is None:
            # type(), not isinstance(): a student object's __class__ may be a property that raises.
            defined = sorted(str(k) for k, v in self.namespace.items() if issubclass(type(v), type))
            have: Verbatim | Message = verbatim(", ".join(defined)) if defined else msg("sandbox.no_classes")
            raise StudentFailure("missing", "import", msg("sandbox.not_defined", name=name, have=have))
        return obj

    def call(self, phase: Phase, what: What, fn: Callable[..., Any], *args: Any) -> Any:
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
            raise StudentFailure("missing", "import", msg("sandbox.not_a_class", name=name, type=verbatim(type_name(cls))))
        try:
            return cls()
        except TypeError as exc:
            if self.student_frames(exc):  # raised inside the student's __init__: an ordinary exception
                raise self._failure("import", f"{name}()", exc) from None
            message = msg("sandbox.init_arguments", name=name, owner=owner, error=verbatim(safe_str(exc)))
            raise StudentFailure("exception", "import", message) from None
        except BaseException as exc:  # noqa: BLE001 - student code may raise anything
            raise self._failure("import", f"{name}()", exc) from None

    def method(self, phase: Phase, owner: str, obj: Any, name: str, fix: What) -> Callable[..., Any]:
        """`obj.<name>`, checked to be something to call; a missing one says how to define it (`fix`, a clause)."""
        found = self.call(phase, f"{owner.split()[-1]}.{name}", getattr, obj, name, _ABSENT)
        if found is _ABSENT:
            raise StudentFailure("missing", phase, msg("sandbox.no_method", owner=owner, method=name, fix=fix))
        if not callable(found):
            message = msg("sandbox.not_a_method", owner=owner, method=name, type=verbatim(type_name(found)), fix=fix)
            raise StudentFailure("missing", phase, message)
        return found  # type: ignore[no-any-return]

    def student_frames(self, exc: BaseException) -> list[traceback.FrameSummary]:
        """The frames of `exc`'s traceback that run the student's code, innermost last."""
        try:
            return [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in self.student_files]
        except Exception:  # noqa: BLE001 - a student exception class may break its own __traceback__
            return []

    def student_location(self, exc: BaseException) -> Location | None:
        """Where in the student's files `exc` was raised (its innermost student frame), or None."""
        frames = self.student_frames(exc)
        return self.location(frames[-1].filename, frames[-1].lineno) if frames else None

    def location(self, label: str, line: int | None) -> Location:
        """The `Location` of line `line` of the code compiled as `label` ('hw.ipynb [cell 3]')."""
        file, cell = self.places.get(label, (label, None))
        return Location(file=file, cell=cell, line=line)

    def _failure(self, phase: Phase, what: What, exc: BaseException) -> StudentFailure:
        if issubclass(type(exc), SystemExit):  # type(), not isinstance(): __class__ may be a student property
            code = verbatim(_safe_repr(_EXIT_CODE.__get__(exc)))
            return StudentFailure("exit", phase, msg("sandbox.exit", what=what, code=code), location=self.student_location(exc))
        if issubclass(type(exc), MemoryError):
            return StudentFailure("memory", phase, msg("sandbox.out_of_memory", what=what), location=self.student_location(exc))
        where = self.student_location(exc)
        error = verbatim(safe_str(exc))
        if issubclass(type(exc), PermissionError):
            message = (msg("sandbox.forbidden", what=what, error=error) if where is None
                       else msg("sandbox.forbidden_at", what=what, error=error, where=place(where)))
            return StudentFailure("forbidden", phase, message, self.student_traceback(exc), where)
        kind = verbatim(type_name(exc))
        message = (msg("sandbox.raised", what=what, type=kind, error=error) if where is None
                   else msg("sandbox.raised_at", what=what, type=kind, error=error, where=place(where)))
        return StudentFailure("exception", phase, message, self.student_traceback(exc), where)

    def student_traceback(self, exc: BaseException) -> str:
        """The student's frames of `exc`'s traceback and the exception, for the report."""
        lines = traceback.format_list(self.student_frames(exc)) + [f"{type_name(exc)}: {safe_str(exc)}\n"]
        return "".join(lines)


def place(location: Location) -> Message:
    """A traceback-style place as a clause: 'hw.py, line 12', 'hw.ipynb [cell 3], line 14' (the worker's own wording)."""
    if location.cell is None:
        return msg("sandbox.where", file=location.file, line=location.line)
    return msg("sandbox.where_cell", file=location.file, cell=location.cell, line=location.line)


def origin(unit: SourceUnit) -> Message:
    """Where a student finds `unit`, as a clause: 'hw.py, line 3', 'hw.ipynb, cell 3, line 2' (`SourceUnit.origin`)."""
    if unit.cell is None:
        return msg("sandbox.origin", file=unit.file, line=unit.line)
    return msg("sandbox.origin_cell", file=unit.file, cell=unit.cell, line=unit.line)


def load_code(ws: Workspace) -> None:
    """Execute supplied imports, then each kept unit in order, as a fresh module would."""
    for line in ws.job.supplied_imports:
        _exec_import(ws, line, "<template import>", 1)
    for unit in ws.job.units:
        filename = unit.file_label
        ws.student_files.add(filename)
        ws.places[filename] = (unit.file, unit.cell)
        if unit.kind == "import":
            _exec_import(ws, unit.source, filename, unit.line)
        else:
            _exec_definition(ws, unit, filename)


def _exec_definition(ws: Workspace, unit: SourceUnit, filename: str) -> None:
    """Define one class/function/constant; a failure costs only the tasks that need this name."""
    try:
        code = _compile(ws, unit, filename)
        ws.call("import", msg("sandbox.defining", name=unit.name or unit.kind, origin=origin(unit)), exec, code, ws.namespace)
    except StudentFailure as failure:
        if unit.name is None:
            raise
        ws.broken[unit.name] = failure


def _compile(ws: Workspace, unit: SourceUnit, filename: str) -> Any:
    # Padding with newlines keeps the student's own line numbers in tracebacks.
    try:
        return compile("\n" * (unit.line - 1) + unit.source, filename, "exec")
    except SyntaxError as exc:
        # ast.parse accepted it in the intake worker; compile still refuses e.g. `return` outside a function.
        message = msg("sandbox.syntax_error", origin=origin(unit), error=verbatim(safe_str(exc.msg)))
        raise StudentFailure("exception", "import", message, location=ws.location(filename, exc.lineno or unit.line)) from None


def _exec_import(ws: Workspace, source: str, filename: str, line: int) -> None:
    """An import that fails is a warning: students import plotting or Colab helpers we never need.

    The warning is evidence (quoted as is in reports): Python's words and the student's line.
    """
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
