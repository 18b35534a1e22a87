"""The data-only protocol between the grader and its worker process.

Files in the job folder:
    job.json      Job, written by the host
    inputs.npz    arrays the host generated (float64 inputs, MNIST images; for `intake`, the files' bytes)
    out/report.json   ChildReport: the worker sends it as one line through its report pipe
                      (runner.wait_for_report); the template or host writes this file from that
                      line once every student process is dead, so student code cannot rewrite it
    out/arrays.npz    arrays the worker computed (numeric dtypes only; its sha256 is in the report)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, model_validator as _model_validator

from ..records import FailureKind, Location, Phase, SourceUnit
from .limits import Limits
from ..text import Message
from .tasks import MAX_REPORT_BYTES, TaskRef
from .wire import TaskParams, TaskResult

Task = Literal["intake", "layer_gradient", "softmax_stability", "model_backward", "numpy_train", "framework_train", "framework_probe",
               "similarity_fingerprint"]

JOB_FILE = "job.json"
INPUTS_FILE = "inputs.npz"
OUT_DIR = "out"
REPORT_FILE = "report.json"
ARRAYS_FILE = "arrays.npz"
MAX_INTAKE_REPORT_BYTES = 64_000_000
"""An intake report carries the kept source of a whole submission (each file is at most 16 MiB)."""


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- task parameters (host -> worker)


class SoftmaxStabilityParams(TaskParams):
    """softmax_stability: Softmax.forward on large logits."""

    task: Literal["softmax_stability"] = "softmax_stability"


class FrameworkTrainParams(TaskParams):
    """framework_train: the grader's seeded training loop on the framework myModel."""

    task: Literal["framework_train"] = "framework_train"
    framework: Literal["pytorch", "tensorflow"]
    seed: int
    epochs: int
    batch_size: int
    lr: float
    optimizer: Literal["sgd", "adam"]
    threads: int = 1


class FrameworkProbeParams(TaskParams):
    """framework_probe: a fresh, seeded framework myModel called on the grader's batch."""

    task: Literal["framework_probe"] = "framework_probe"
    framework: Literal["pytorch", "tensorflow"]
    seed: int
    threads: int = 1


class IntakeParams(TaskParams):
    """intake: analyse these files (their bytes are inputs f0, f1, ...)."""

    task: Literal["intake"] = "intake"
    files: tuple[str, ...]


class SimilarityParams(TaskParams):
    """similarity_fingerprint: fingerprint each text of the inputs."""

    task: Literal["similarity_fingerprint"] = "similarity_fingerprint"
    method: Literal["tokens", "copydetect"]
    k: int
    window: int


Params = Annotated[
    Union[SoftmaxStabilityParams, FrameworkTrainParams,
          FrameworkProbeParams, IntakeParams, SimilarityParams],
    Field(discriminator="task"),
]
ParamsT = TypeVar("ParamsT", bound=TaskParams)


class Job(_Msg):
    """One unit of work for a worker: which student code to load and what to run (`task`, with `params`)."""

    units: tuple[SourceUnit, ...] = Field(description="Student (or reference) definitions, executed in order.")
    supplied_imports: tuple[str, ...] = ()
    task: TaskRef = Field(None, validate_default=True,  # filled for legacy params below
                          description="The worker task to run (sandbox/tasks.py); the host chose it.")
    params: SerializeAsAny[TaskParams] = Field(description="The task's parameters (the worker validates them with its model).")
    token: str = Field("", description="Random per run; a report without it is not accepted.")

    @_model_validator(mode="before")
    @classmethod
    def _legacy_task(cls, data: Any) -> Any:
        # Tasks not yet moved beside their stage (sandbox/legacy.py) are named by their params' `task`.
        if isinstance(data, dict) and data.get("task") is None and hasattr(data.get("params"), "task"):
            return {**data, "task": TaskRef(module="grader.sandbox.legacy", name=data["params"].task)}
        return data

    @property
    def task_name(self) -> str:
        """The task's name, for labels and results."""
        return self.task.name

    def params_as(self, kind: type[ParamsT]) -> ParamsT:
        """The parameters as `kind`; a task called with another task's parameters is a grader bug."""
        assert isinstance(self.params, kind), f"task {self.task_name} got {type(self.params).__name__}"
        return self.params


# --------------------------------------------------------------------------- worker -> host


class ChildError(_Msg):
    """A failure the worker caught and described."""

    kind: FailureKind
    phase: Phase
    message: Message
    traceback: str = ""
    location: Location | None = None


class ChildReport(_Msg):
    """What the worker says about its run (arrays travel separately, in arrays.npz)."""

    token: str
    result: str = Field("", description="The task result's JSON (wire.encode_result); the host validates it with the task's model.")
    arrays_sha256: str = Field("", description="Digest of arrays.npz, checked before the arrays are read.")
    worker_seconds: float | None = Field(None, description="The worker's own run time.")
    values: dict[str, Any] = Field(default_factory=dict, description="Tasks of sandbox/legacy.py only: their untyped values.")
    warnings: list[str] = Field(default_factory=list)
    error: ChildError | None = None


# --------------------------------------------------------------------------- host <-> warm template (pool.py <-> forkserver.py)
# One JSON line each way; the host validates every reply, and one it cannot read counts as a dead template.


class PreloadRequest(_Msg):
    """Import these modules now (in the template, before any child forks)."""

    op: Literal["preload"] = "preload"
    modules: tuple[str, ...]


class RunRequest(_Msg):
    """Fork a child for the job in `jobdir` under `limits`."""

    op: Literal["run"] = "run"
    jobdir: str
    limits: Limits


TemplateRequest = Annotated[Union[PreloadRequest, RunRequest], Field(discriminator="op")]


class PreloadReply(_Msg):
    """Whether the preload worked (a broken install: each child then reports its own import error)."""

    ok: bool
    error: str = ""


class RunReply(_Msg):
    """How the child ended: subprocess's return code (negative for a signal) and whether it was killed at the timeout."""

    returncode: int
    timed_out: bool


# --------------------------------------------------------------------------- task results (worker -> host), validated on the host
# Each check's registry entry names its result model; a reply that does not validate is "tampered" for that check alone.

class _Result(TaskResult):
    """Base of the task result models: the worker's `values`, validated in the grader's process."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    warnings: tuple[str, ...] = ()


# ---- results of softmax_stability (layer_gradient: checks/layer_gradient/worker.py)
# (imported here, not at the top: each section of this file has its own owner)
from pydantic import StrictBool, StrictStr, model_validator  # noqa: E402


class SoftmaxStabilityResult(_Result):
    """softmax_stability: no values; the output is the array `out`."""


# ---- results of framework_train (model_backward and numpy_train: checks/model_backward/worker.py, checks/training/numpy_worker.py)
# Strict numbers: a bool or a numeric string where the task writes a number is a forged reply, not a value.

_Int = Annotated[int, Field(strict=True)]
Measured = Union[_Int, Annotated[float, Field(strict=True)], Literal["nan", "inf", "-inf"]]
"""A number the worker measured, or the name of one that is not finite (strict JSON has no NaN): str(float)."""


class TrainingCurvePoints(BaseModel):
    """sandbox/curve.py's TrainingCurve.points: equal-length columns (the judge checks the lengths)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: tuple[Measured, ...]
    loss: tuple[Measured, ...]
    accuracy: tuple[Measured, ...]


class TrainingResult(_Result):
    """framework_train's values (numpy_train's result is checks/training/numpy_worker.NumpyTrainResult).  Array, read by the judge: test_out, the (n_test, 10) outputs."""

    losses: tuple[Measured, ...] = Field(description="The mean training loss of each epoch.")
    curve: TrainingCurvePoints | None = Field(None, description="Loss and batch accuracy every few steps.")
    worker_seconds: float | None = Field(None, description="The worker's own run time (child.py writes it for every task).")
    n_parameters: _Int | None = Field(None, description="framework_train: the number of trainable parameters found.")
    layout: Literal["3d", "2d"] | None = Field(
        None, description="framework_train: the input layout the model was trained and tested in: the template's (N, 28, 28) "
                          "images (3d), or flattened (N, 784) rows (2d), when it accepts only those.")
    training_flag: StrictBool | None = Field(
        None, description="framework_train: the model was called with training=True while training, training=False on the test images.")
    no_layout: ChildError | None = Field(
        None, description="framework_train: the model accepts neither layout (training.no_layout); nothing was trained.")
    module_modes: StrictBool | None = Field(
        None, description="framework_train: PyTorch modules were put in training mode, then in eval mode for the test images.")

# ---- results of framework_probe (checks/framework_model.py)
# One run, two models: framework.model.forward validates only what it reads, so a reply with bad parameter
# names is "tampered" for the architecture check alone.
from pydantic import StrictInt as _ProbeInt  # noqa: E402
from pydantic import StrictStr as _ProbeStr  # noqa: E402
from pydantic import StrictBool as _ProbeBool  # noqa: E402

ProbeLayout = Literal["3d", "2d"]
"""The probe's two input layouts: the template's (N, 28, 28) images, then flattened (N, 784) rows."""


class InferenceMode(BaseModel):
    """How the probe put myModel into inference mode before calling it (the same for both layouts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    eval: _ProbeBool = Field(False, description="PyTorch: model.eval() was called (an nn.Module: dropout off).")
    training_false: _ProbeBool = Field(False, description="The model's call takes `training`: it was called with training=False.")


class FrameworkForwardResult(_Result):
    """framework_probe as framework.model.forward reads it (tasks_probe.py): how each of the two calls went.

    Each layout is probed on a fresh, seeded instance (a Keras model builds itself for the shape of its first
    call).  Suffix 3d is the (N, 28, 28) call, 2d the (N, 784) call.  Arrays, read by the judges: out_3d and
    out_2d, the float64 outputs of the calls that returned, and out_3d_again / out_2d_again, a second call of
    the same instance on the same batch (inference mode must make them equal).
    """

    batch: _ProbeInt = Field(ge=1, description="N, the number of images in the probe batch.")
    error_3d: ChildError | None = Field(None, description="Why myModel failed on the (N, 28, 28) batch, if it did.")
    error_2d: ChildError | None = Field(None, description="Why myModel failed on the (N, 784) batch, if it did.")
    shape_3d: tuple[_ProbeInt, ...] | None = Field(None, description="Shape of the (N, 28, 28) call's output.")
    shape_2d: tuple[_ProbeInt, ...] | None = Field(None, description="Shape of the (N, 784) call's output.")
    type_3d: _ProbeStr | None = Field(None, description="Class name of what the (N, 28, 28) call returned, e.g. 'Tensor', 'tuple'.")
    type_2d: _ProbeStr | None = Field(None, description="Class name of what the (N, 784) call returned.")
    inference: InferenceMode = Field(InferenceMode(), description="How the calls were put into inference mode.")


class TrainingStep(BaseModel):
    """A training step of the student's own (a function or method that names the variables it updates), as the
    worker read it with `ast`: the attribute paths of the model it lists, relative to the model object."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: _ProbeStr = Field(description="'train_one_step', or 'myModel.train_step' for a method.")
    paths: tuple[_ProbeStr, ...] = Field(description="Listed attribute paths, e.g. ('W1', 'W2', 'b1', 'b2') or ('fc1',) for fc1's variables.")
    everything: _ProbeBool = Field(False, description="It lists all of the model's variables (model.trainable_variables, model.parameters()).")
    unknown: _ProbeBool = Field(False, description="Part of its list could not be read (a name from elsewhere, a comprehension).")
    file: _ProbeStr = ""
    line: _ProbeInt | None = None


class FrameworkProbeResult(FrameworkForwardResult):
    """framework_probe in full, as framework.model.architecture reads it: also the trainable parameters.

    Arrays: param0, param1, ... (float64), one per name, in the order of `param_names`: the parameters of the
    instance of layout `params_of` (the first that returned an (N, 10) output).
    """

    param_names: tuple[_ProbeStr, ...] = Field(description="Attribute path of each parameter ('fc1.weight', 'W1'), else 'param{i}'.")
    param_shapes: tuple[tuple[_ProbeInt, ...], ...] = ()
    params_error: ChildError | None = Field(None, description="Why no trainable parameters were found, if none were.")
    params_of: ProbeLayout | None = Field(None, description="The layout whose instance the parameters are from.")
    training_steps: tuple[TrainingStep, ...] = Field((), description="The student's own training steps found in the part's code.")
