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

from pydantic import BaseModel, ConfigDict, Field

from ..records import FailureKind, Location, Phase, SourceUnit
from .limits import Limits
from ..text import Message

Task = Literal["intake", "layer_gradient", "softmax_stability", "model_backward", "numpy_train", "framework_train", "framework_probe",
               "similarity_fingerprint"]

JOB_FILE = "job.json"
INPUTS_FILE = "inputs.npz"
OUT_DIR = "out"
REPORT_FILE = "report.json"
ARRAYS_FILE = "arrays.npz"
MAX_REPORT_BYTES = 2_000_000
MAX_INTAKE_REPORT_BYTES = 64_000_000
"""An intake report carries the kept source of a whole submission (each file is at most 16 MiB)."""


def max_report_bytes(task: str) -> int:
    """The largest report.json the host reads for a job of `task`."""
    return MAX_INTAKE_REPORT_BYTES if task == "intake" else MAX_REPORT_BYTES


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- task parameters (host -> worker)


class LayerGradientParams(_Msg):
    """layer_gradient: forward/backward of one numpy layer at `n_points` input points with `n_args` arguments."""

    task: Literal["layer_gradient"] = "layer_gradient"
    layer: str
    n_args: int = Field(ge=1, le=8)
    n_points: int = Field(ge=1, le=8)


class SoftmaxStabilityParams(_Msg):
    """softmax_stability: Softmax.forward on large logits."""

    task: Literal["softmax_stability"] = "softmax_stability"


class ModelBackwardParams(_Msg):
    """model_backward: the numpy myModel with the grader's weights, forward and backward, and directional forwards."""

    task: Literal["model_backward"] = "model_backward"
    seed: int
    fd_step64: float
    fd_step32: float


class NumpyTrainParams(_Msg):
    """numpy_train: the grader's seeded mini-batch SGD on the numpy myModel."""

    task: Literal["numpy_train"] = "numpy_train"
    seed: int
    epochs: int
    batch_size: int
    lr: float
    threads: int = 1


class FrameworkTrainParams(_Msg):
    """framework_train: the grader's seeded training loop on the framework myModel."""

    task: Literal["framework_train"] = "framework_train"
    framework: Literal["pytorch", "tensorflow"]
    seed: int
    epochs: int
    batch_size: int
    lr: float
    optimizer: Literal["sgd", "adam"]
    threads: int = 1


class FrameworkProbeParams(_Msg):
    """framework_probe: a fresh, seeded framework myModel called on the grader's batch."""

    task: Literal["framework_probe"] = "framework_probe"
    framework: Literal["pytorch", "tensorflow"]
    seed: int
    threads: int = 1


class IntakeParams(_Msg):
    """intake: analyse these files (their bytes are inputs f0, f1, ...)."""

    task: Literal["intake"] = "intake"
    files: tuple[str, ...]


class SimilarityParams(_Msg):
    """similarity_fingerprint: fingerprint each text of the inputs."""

    task: Literal["similarity_fingerprint"] = "similarity_fingerprint"
    method: Literal["tokens", "copydetect"]
    k: int
    window: int


Params = Annotated[
    Union[LayerGradientParams, SoftmaxStabilityParams, ModelBackwardParams, NumpyTrainParams, FrameworkTrainParams,
          FrameworkProbeParams, IntakeParams, SimilarityParams],
    Field(discriminator="task"),
]
ParamsT = TypeVar("ParamsT", bound=_Msg)


class Job(_Msg):
    """One unit of work for a worker: which student code to load and what to run (`params.task`)."""

    units: tuple[SourceUnit, ...] = Field(description="Student (or reference) definitions, executed in order.")
    supplied_imports: tuple[str, ...] = ()
    params: Params = Field(description="The task and its parameters.")
    token: str = Field("", description="Random per run; a report without it is not accepted.")

    @property
    def task(self) -> Task:
        """Which worker task runs."""
        return self.params.task

    def params_as(self, kind: type[ParamsT]) -> ParamsT:
        """The parameters as `kind`; a task called with another task's parameters is a grader bug."""
        assert isinstance(self.params, kind), f"task {self.task} got {type(self.params).__name__}"
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
    """What the worker says about its run (arrays travel separately)."""

    token: str
    values: dict[str, Any] = Field(default_factory=dict, description="Validated by the task's own result model on the host.")
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
    filled: tuple[str, str] | None = None
    """(bound, place) when the job left no room in its slot's tmpfs (scratch.filled), seen before the wipe."""


# --------------------------------------------------------------------------- task results (worker -> host), validated on the host
# Each check's registry entry names its result model; a reply that does not validate is "tampered" for that check alone.

class _Result(BaseModel):
    """Base of the task result models: the worker's `values`, validated in the grader's process."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    warnings: tuple[str, ...] = ()


# ---- results of layer_gradient and softmax_stability (checks/gradients.py, checks/stability.py)
# (imported here, not at the top: each section of this file has its own owner)
from pydantic import StrictBool, StrictStr, model_validator  # noqa: E402


class GradType(BaseModel):
    """What a layer's backward returned for one gradient, read before conversion (tasks_numpy.describe)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: StrictStr = Field(description="The returned object's class name, e.g. 'ndarray', 'list'.")
    ndarray: StrictBool = Field(description="Exactly np.ndarray (not a subclass).")
    dtype: StrictStr | None = Field(description="The array's dtype, e.g. 'float64'; None for anything but an ndarray.")

    @model_validator(mode="after")
    def _ndarray_has_dtype(self) -> GradType:
        if self.ndarray and self.dtype is None:
            raise ValueError("an ndarray has a dtype")
        return self


class LayerPoint(BaseModel):
    """The worker's values for one input point k: wire keys p{k}_grad_types and p{k}_fd_dtype."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grad_types: tuple[GradType, ...] = Field(description="One entry per gradient backward returned.")
    fd_dtype: StrictStr = Field(description="dtype of the forward's output: its finite differences used that dtype's steps.")


class LayerGradientResult(_Result):
    """layer_gradient: per input point k the worker writes values p{k}_grad_types and p{k}_fd_dtype, gathered
    here into `points` in order (its arrays p{k}_out, p{k}_grad{i}, ... are checked by the judge)."""

    points: tuple[LayerPoint, ...]

    @model_validator(mode="before")
    @classmethod
    def _gather_points(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        points: list[dict[str, Any]] = []
        while any(f"p{len(points)}_{key}" in data for key in ("grad_types", "fd_dtype")):
            k = len(points)
            points.append({"grad_types": data.get(f"p{k}_grad_types"), "fd_dtype": data.get(f"p{k}_fd_dtype")})
        return {**data, "points": points}


class SoftmaxStabilityResult(_Result):
    """softmax_stability: no values; the output is the array `out`."""


# ---- results of model_backward, numpy_train and framework_train (checks/model_gradient.py, checks/training.py)
# Strict numbers: a bool or a numeric string where the task writes a number is a forged reply, not a value.

_Int = Annotated[int, Field(strict=True)]
Measured = Union[_Int, Annotated[float, Field(strict=True)], Literal["nan", "inf", "-inf"]]
"""A number the worker measured, or the name of one that is not finite (strict JSON has no NaN): str(float)."""


class ModelBackwardResult(_Result):
    """model_backward's values (tasks_numpy.model_backward).  Arrays, read by the judge: h2_log, W1_grad,
    W2_grad, and h2_log_{plus,minus}{64,32}, the forwards at W +/- step * D for each dtype's step."""

    W1_shape: tuple[_Int, ...] = Field(description="np.shape of myModel.W1 right after myModel() (before the grader set it).")
    W2_shape: tuple[_Int, ...] = Field(description="np.shape of myModel.W2 right after myModel().")


class TrainingCurvePoints(BaseModel):
    """sandbox/curve.py's TrainingCurve.points: equal-length columns (the judge checks the lengths)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: tuple[Measured, ...]
    loss: tuple[Measured, ...]
    accuracy: tuple[Measured, ...]


class TrainingResult(_Result):
    """numpy_train's and framework_train's values.  Array, read by the judge: test_out, the (n_test, 10) outputs."""

    losses: tuple[Measured, ...] = Field(description="The mean training loss of each epoch.")
    curve: TrainingCurvePoints | None = Field(None, description="Loss and batch accuracy every few steps.")
    worker_seconds: float | None = Field(None, description="The worker's own run time (child.py writes it for every task).")
    W1_shape: tuple[_Int, ...] | None = Field(None, description="numpy_train: np.shape of myModel.W1 after myModel().")
    W2_shape: tuple[_Int, ...] | None = Field(None, description="numpy_train: np.shape of myModel.W2 after myModel().")
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
