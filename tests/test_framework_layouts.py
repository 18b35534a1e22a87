"""grader/checks/framework_layouts.py: the one rule for how a call in a layout went, for the probe and training alike."""

from __future__ import annotations

from grader.checks.framework_layouts import CallRaised, CallReturned, LayoutCall, accepted, reason, same_error, takes_input
from grader.records import Location
from grader.sandbox.protocol import ChildError
from grader.text import msg, verbatim

HERE = Location(file="hw.py", line=12)


def _raised(text: str = "mat1 and mat2", where: Location | None = HERE, exception: str | None = "RuntimeError",
            kind: str = "exception", in_call: bool = True, shape: str = "(6, 784)") -> CallRaised:
    what = msg("framework.probe.call", shape=shape)  # the worker's own description names the shape: never compared
    message = msg("sandbox.raised", what=what, type=verbatim(exception or ""), error=verbatim(text))
    error = ChildError(kind=kind, phase="forward", message=message, location=where)
    return CallRaised(error=error, exception=exception, text=text, in_call=in_call)


def _returned(shape: tuple[int, ...] | None, type_name: str = "Tensor") -> LayoutCall:
    return LayoutCall(layout="3d", returned=CallReturned(type=type_name, shape=shape))


def test_only_one_n_by_10_output_is_accepted() -> None:
    assert accepted(_returned((6, 10)), 6)
    assert not accepted(_returned((6, 10), "tuple"), 6) and not accepted(_returned((6, 5)), 6) and not accepted(_returned((5, 10)), 6)
    assert not accepted(LayoutCall(layout="2d", raised=_raised()), 6)


def test_a_model_takes_the_input_unless_it_raises_or_returns_another_batch_s_shape() -> None:
    # What it returned is then its own failure (a tuple, (n, 5)), judged as its output in any layout.
    assert takes_input(_returned((6, 5)), 6) and takes_input(_returned(None, "tuple"), 6)
    assert not takes_input(_returned((6, 28, 10)), 6) and not takes_input(_returned((168, 10)), 6)
    assert not takes_input(LayoutCall(layout="3d", raised=_raised()), 6)


def test_the_same_error_is_the_same_exception_text_and_place_whatever_the_shape() -> None:
    assert same_error(_raised(shape="(6, 28, 28)"), _raised(shape="(6, 784)"))
    assert not same_error(_raised(), _raised(text="other text"))
    assert not same_error(_raised(), _raised(where=Location(file="hw.py", line=13)))
    assert not same_error(_raised(), _raised(exception="ValueError"))


def test_a_plain_raise_is_said_by_type_and_place_in_each_check_s_words() -> None:
    assert str(reason(_raised(), "forward")) == "it raised RuntimeError (hw.py, line 12)"
    assert reason(_raised(where=None), "training").id == "training.layout_raised"
    assert reason(_raised(), "training").id == "training.layout_raised_at"
    # Not a plain raise of the call (converting what it returned failed): the worker's own sentence.
    converting = _raised(in_call=False)
    assert reason(converting, "forward") == converting.error.message
