"""The one serializer of what crosses the sandbox: typed task params and results, arrays as named fields.

A worker task returns a `TaskResult` subclass.  Its numbers, strings and records travel as
JSON (NaN and infinities as the JSON constants `NaN`, `Infinity`, which pydantic reads back as
floats); each field typed `Array` travels in the job's .npz under a generated key, and the
JSON holds that key.  On the host `decode_result` validates the JSON against the same model
with the loaded arrays at hand: a key that names no array, or an array that is not numeric,
fails validation, and the check that reads the reply calls it tampered.

    class SoftmaxStabilityResult(TaskResult):
        out: Array                       # the worker sets it; the judge reads reply.values.out

    text, arrays = encode_result(result)             # in the worker
    result = decode_result(SoftmaxStabilityResult, text, arrays)   # in the grader
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, SerializationInfo, ValidationInfo

_ARRAYS = "arrays"


def _array_in(value: Any, info: ValidationInfo) -> np.ndarray:
    # In the worker an Array field is set from a real array; on the host it is a key of the loaded .npz.
    if isinstance(value, np.ndarray):
        found = value
    else:
        arrays = (info.context or {}).get(_ARRAYS)
        if not isinstance(value, str) or not isinstance(arrays, Mapping) or value not in arrays:
            raise ValueError("names no array the worker sent")
        found = arrays[value]
    if not isinstance(found, np.ndarray) or found.dtype.kind not in "fiub":
        raise ValueError("is not a numeric array")
    return found


def _array_out(value: np.ndarray, info: SerializationInfo) -> str:
    arrays = (info.context or {}).get(_ARRAYS)
    if not isinstance(arrays, dict):
        raise TypeError("an Array field is serialized by wire.encode_result only")
    key = f"a{len(arrays)}"
    arrays[key] = value
    return key


Array = Annotated[np.ndarray, PlainValidator(_array_in), PlainSerializer(_array_out, return_type=str)]
"""A numeric numpy array field of a task result: sent in the .npz, named in the JSON."""


class TaskParams(BaseModel):
    """Base of every worker task's parameters (host -> worker), validated again in the worker."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskResult(BaseModel):
    """Base of every worker task's result (worker -> host), validated in the grader's process."""

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants", arbitrary_types_allowed=True)


ResultT = TypeVar("ResultT", bound=TaskResult)


def encode_result(result: TaskResult) -> tuple[str, dict[str, np.ndarray]]:
    """`result` as JSON text and the arrays its Array fields name."""
    arrays: dict[str, np.ndarray] = {}
    text = result.model_dump_json(context={_ARRAYS: arrays})
    return text, arrays


def decode_result(model: type[ResultT], text: str, arrays: Mapping[str, np.ndarray]) -> ResultT:
    """The result `model` from a worker's JSON and arrays; raises pydantic's ValidationError when they do not fit."""
    return model.model_validate_json(text, context={_ARRAYS: arrays})
