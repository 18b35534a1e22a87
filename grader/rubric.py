"""The rubric: points, visibility, tolerances, seeds and training protocols.

A rubric is a TOML file validated by pydantic.  Every key is checked: an unknown
key, a wrong type or an out-of-range value stops the grader with one line that
names the file, the key and what is allowed.
"""

from __future__ import annotations

import functools
import hashlib
import tomllib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from .errors import RubricError
from .records import Visibility
from .sandbox.limits import Limits

if TYPE_CHECKING:  # a type only: the registry imports this module for CheckSpec
    from .checks.registry import Registry

DEFAULT_RUBRIC = Path(__file__).resolve().parent.parent / "rubrics" / "default.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Tolerance(_Strict):
    """How close a student's gradient must be, as elementwise relative error.

    err_i = |got_i - want_i| / max(|got_i|, |want_i|, floor * max|want|)
    The floor keeps entries that should be ~0 (masked ReLU entries, rounding
    noise of a finite difference) from dividing by nothing.
    """

    autograd_rtol: float = Field(gt=0, description="Against the PyTorch autograd reference (exact to rounding).")
    fd_rtol: float = Field(gt=0, description="Against central finite differences of the student's forward.")
    fd_eps: float = Field(gt=0, description="Relative step of the central difference: h_j = fd_eps * max(|x_j|, 0.1).")
    floor: float = Field(gt=0, description="Relative floor of the denominator (fraction of max|want|).")
    fd_floor: float = Field(gt=0, description="The floor against finite differences, which carry rounding noise of ~1e-16 |f| / h.")


class GradientTolerance(_Strict):
    """Tolerances per dtype: a float32 gradient is judged with float32 tolerances, not failed for its dtype.

    float64: autograd agrees with a correct backward to ~1e-12; central differences
    with h = 1e-6 carry ~1e-9 truncation and rounding error.  float32: rounding is
    ~6e-8 per operation, but a nearly saturated softmax amplifies it to ~3e-3 on its
    small entries (measured on tests/gradient_variants/float32_layers), hence 1e-2;
    differences need h ~ 1e-2.  Real mistakes give relative errors of order 1.
    """

    float64: Tolerance = Tolerance(autograd_rtol=1e-6, fd_rtol=1e-4, fd_eps=1e-6, floor=1e-6, fd_floor=1e-4)
    float32: Tolerance = Tolerance(autograd_rtol=1e-2, fd_rtol=2e-2, fd_eps=1e-2, floor=1e-3, fd_floor=1e-2)

    def for_dtype(self, dtype: str) -> Tolerance:
        """float16/float32 results get the float32 tolerances; everything else float64."""
        return self.float32 if dtype in ("float16", "float32") else self.float64


class CheckSpec(_Strict):
    points: float = Field(ge=0, description="Points for passing; 0 for an advisory check.")
    visibility: Visibility = Field("public", description="public checks run in --self-check; hidden ones do not.")
    seed: int | None = Field(None, description="Pins the seed of this check's inputs; unset, each run draws a fresh one (recorded).")
    timeout_s: float | None = Field(None, gt=0, description="Overrides [limits] timeout_s for this check.")
    release: bool = Field(False, description="hidden checks: show message, diagnosis and evidence in reports")

    def with_seed(self, base: int, check_id: str) -> Self:
        """This spec with its seed resolved: the pinned one, else one derived from the run's base seed."""
        if self.seed is not None:
            return self
        return self.model_copy(update={"seed": (base + zlib.crc32(check_id.encode())) % 2**32})

    @property
    def run_seed(self) -> int:
        """The resolved seed; `with_seed` must have been applied (a grader bug otherwise)."""
        assert self.seed is not None, "with_seed() was not applied"
        return self.seed


class GradientCheck(CheckSpec):
    """A backward pass compared with autograd and finite differences."""

    tolerance: GradientTolerance = GradientTolerance()
    numpy_only: bool = Field(True, description="Layer checks: a layer whose code computes with torch, tensorflow, keras, "
                                               "jax or autograd fails before it runs (this part computes gradients by hand "
                                               "with numpy); false grades such a layer by its numbers as usual.")


class AdvisoryCheck(CheckSpec):
    """Reported to the student, worth 0 points unless the rubric gives points."""

    points: float = Field(0.0, ge=0)


class TrainingCheck(CheckSpec):
    """The grader's own seeded training loop on MNIST, then test accuracy."""

    epochs: int = Field(ge=1, le=200)
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0)
    optimizer: Literal["sgd", "adam"] = "sgd"
    train_samples: int = Field(5000, ge=10, description="Training images used (the first n of the training split).")
    test_samples: int = Field(10000, ge=10, description="Test images the accuracy is measured on.")
    threshold: float = Field(ge=0, le=1, description="Minimum test accuracy to pass.")


class Checks(_Strict):
    """Every check the grader knows, by its stable id: the fields are derived from the check registry
    (grader/checks/registry.py) by `checks_model`, one per registered check, aliased by its id."""

    def get(self, check_id: str) -> CheckSpec:
        """The spec of the check with stable id `check_id` (the model was built from the registry that has it)."""
        spec = getattr(self, field_name(check_id), None)
        if not isinstance(spec, CheckSpec):
            raise KeyError(f"no check {check_id!r} in this rubric's registry: load the rubric with the registry that has it")
        return spec

    def gradient(self, check_id: str) -> GradientCheck:
        """The spec of a gradient check."""
        spec = self.get(check_id)
        assert isinstance(spec, GradientCheck), f"{check_id} is not a gradient check"
        return spec

    def ids(self) -> tuple[str, ...]:
        """The ids of every check this rubric has a spec for, in registry order."""
        return tuple(f.alias or n for n, f in type(self).model_fields.items())


def field_name(check_id: str) -> str:
    """The Checks field of a check id: 'numpy.relu.backward' -> 'numpy_relu_backward'."""
    return check_id.replace(".", "_")


SpecList = tuple[tuple[str, type[CheckSpec], CheckSpec | None], ...]
"""(id, rubric model, default or None when the rubric must have the table) of each check: `Registry.specs()`."""


@functools.cache
def checks_model(specs: SpecList) -> type[Checks]:
    """The [checks] table's model: one field per check, its rubric model, its default (or required)."""
    fields: dict[str, Any] = {}
    for check_id, spec, default in specs:
        fields[field_name(check_id)] = (spec, Field(default if default is not None else ..., alias=check_id))
    model: type[Checks] = create_model("Checks", __base__=Checks, **fields)
    return model


@functools.cache
def rubric_model(specs: SpecList) -> type[Rubric]:
    """The whole rubric file's model, with the [checks] table of these checks."""
    model: type[Rubric] = create_model("Rubric", __base__=Rubric, checks=(checks_model(specs), ...))
    return model


class SimilaritySettings(_Strict):
    """[similarity]: how `grade --similarity` compares the students of a class (grader/similarity/).

    A pair's score is the larger of its two coverages: the share of one side's own
    lines (neither template code nor code the class has in common) that the other
    side holds too, over at least `min_lines` lines, so that a few short lines
    alike can never reach the threshold.  Changing this table changes the rubric's
    hash, so the next run regrades the class.
    """

    method: Literal["tokens", "copydetect"] = Field(
        "tokens", description="tokens: Python's tokenizer, normalised for this homework; copydetect: copydetect's Pygments filter.")
    threshold: float = Field(0.6, gt=0, le=1, description="Pairs scoring at least this are flagged for a person to look at.")
    report_floor: float = Field(0.3, ge=0, le=1, description="Pairs scoring below this are left out of similarity.csv and .html.")
    min_lines: int = Field(12, ge=1, description="A side counts as having at least this many own lines (the score's denominator).")
    common_fraction: float = Field(0.05, gt=0, le=1, description="Code at least this share of the class holds is common, not evidence ...")
    common_min: int = Field(5, ge=2, description="... and at least this many students (in a small class).")
    k: int | None = Field(None, ge=2, le=200, description="Symbols per k-gram; default 12 tokens, or 25 characters for copydetect.")
    window: int = Field(1, ge=1, le=100, description="Winnowing window; 1 keeps every k-gram (copydetect's default).")

    @model_validator(mode="after")
    def _check_floor_below_threshold(self) -> Self:
        if self.report_floor > self.threshold:
            raise ValueError(f"report_floor {self.report_floor} is above threshold {self.threshold}; lower it")
        return self

    @property
    def kgram(self) -> int:
        """Symbols per k-gram: `k`, else the method's default."""
        return self.k if self.k is not None else (12 if self.method == "tokens" else 25)


class Rubric(_Strict):
    """A whole rubric file."""

    name: str
    calibration: str = Field("", description="How the thresholds were set, in words.")
    limits: Limits = Limits()
    checks: Checks
    similarity: SimilaritySettings = SimilaritySettings()

    def limits_for(self, check_id: str) -> Limits:
        """Resource limits for one check: the rubric's, with the check's own timeout if it sets one."""
        timeout = self.checks.get(check_id).timeout_s
        return self.limits if timeout is None else self.limits.model_copy(update={"timeout_s": timeout})


@dataclass(frozen=True)
class LoadedRubric:
    """A validated rubric with where it came from, its content hash and the checks it was validated for."""

    rubric: Rubric
    path: str
    sha256: str
    registry: Registry
    """The checks this rubric's [checks] table was built from: the checks a run with it grades."""


def load_rubric(path: Path | None, registry: Registry) -> LoadedRubric:
    """Read and validate a rubric (the default rubric when `path` is None) for the checks of `registry`.

    Raises:
        RubricError: one line naming the file, the key and what is allowed.
    """
    path = path or DEFAULT_RUBRIC
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise RubricError(f"{path}: cannot read the rubric ({exc.strerror}); pass an existing file to --rubric") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RubricError(f"{path}: not valid TOML: {exc}") from exc
    try:
        rubric = rubric_model(registry.specs()).model_validate(data)
    except ValidationError as exc:
        raise RubricError(f"{path}: {_first_error_msg(exc, rubric_model(registry.specs()))}") from exc
    return LoadedRubric(rubric=rubric, path=str(path), sha256=hashlib.sha256(raw).hexdigest(), registry=registry)


def _first_error_msg(exc: ValidationError, model: type[BaseModel]) -> str:
    """'checks.numpy.relu.backward.points: must be >= 0, got -1' for the first error."""
    errors = exc.errors()
    # A misspelt key also makes the right key "missing": name the misspelling, the root cause.
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        msg = f"{key}: unknown key; allowed here: {', '.join(_allowed_keys(err['loc'], model))}"
    elif err["type"] == "missing":
        msg = f"{key}: required key is missing"
    else:
        msg = f"{key}: {err['msg']}, got {err.get('input')!r}"
    more = exc.error_count() - 1
    return msg + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


def _allowed_keys(loc: tuple[int | str, ...], model: type[BaseModel]) -> list[str]:
    """The keys the rubric `model` allows in the table that holds `loc`."""
    for part in loc[:-1]:
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        sub = getattr(field, "annotation", None) if field else None
        sub = next((a for a in getattr(sub, "__args__", (sub,)) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if sub is None:
            break
        model = sub
    return [f.alias or n for n, f in model.model_fields.items()]
