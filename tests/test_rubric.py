"""Rubric validation: every mistake gives one line naming the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.checks.builtin import BUILTIN
from grader.errors import RubricError
from grader.records import CheckOutcome
from grader.rubric import DEFAULT_RUBRIC, load_rubric
from grader.scoring import score_outcomes
from grader.text import msg

DEFAULT = DEFAULT_RUBRIC.read_text(encoding="utf-8")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rubric.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_points_a_rubric_file_gives_are_the_points_a_passed_check_earns(tmp_path: Path) -> None:
    assert "points = 15" in DEFAULT  # numpy.model.backward's table, the first with these points
    rubric = load_rubric(write(tmp_path, DEFAULT.replace("points = 15", "points = 7.5", 1)), BUILTIN).rubric
    outcomes = [CheckOutcome(id="numpy.model.backward", status=status, message=msg("pipeline.no_framework"))
                for status in ("passed", "failed")]
    passed, failed = score_outcomes(outcomes, rubric)
    assert (passed.score, passed.max_score, failed.score, failed.max_score) == (7.5, 7.5, 0.0, 7.5)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("points = 15", "points = -1", "checks.numpy.model.backward.points: Input should be greater than or equal to 0, got -1"),
        ('optimizer = "adam"', 'optimizer = "rmsprop"', "checks.framework.model.train.optimizer: Input should be 'sgd' or 'adam', got 'rmsprop'"),
        ("threshold = 0.65\nseed = 0\n\n[checks.\"framework", "threshold = 1.5\nseed = 0\n\n[checks.\"framework",
         "checks.numpy.model.train.threshold: Input should be less than or equal to 1, got 1.5"),
        ('visibility = "public"', 'visibility = "secret"', "checks.numpy.softmax.stability.visibility: Input should be 'public' or 'hidden', got 'secret'"),
        ("memory_mb = 4096", "memory_mb = \"lots\"", "limits.memory_mb: Input should be a valid integer, unable to parse string as an integer, got 'lots'"),
    ],
    ids=["negative-points", "unknown-optimizer", "threshold-above-1", "bad-visibility", "string-memory"],
)
def test_rubric_rejects_bad_values_naming_the_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in DEFAULT
    path = write(tmp_path, DEFAULT.replace(old, new, 1))
    with pytest.raises(RubricError) as info:
        load_rubric(path, BUILTIN)
    assert str(info.value) == f"{path}: {message}"


def test_rubric_rejects_unknown_check_listing_the_allowed_ids(tmp_path: Path) -> None:
    path = write(tmp_path, DEFAULT + '\n[checks."numpy.relu.backwards"]\npoints = 1\n')
    with pytest.raises(RubricError, match=r"checks\.numpy\.relu\.backwards: unknown key; allowed here: numpy\.matmul\.backward, numpy\.relu\.backward, "):
        load_rubric(path, BUILTIN)


def test_rubric_rejects_misspelt_key_inside_a_check(tmp_path: Path) -> None:
    path = write(tmp_path, DEFAULT.replace("batch_size = 100", "batchsize = 100", 1))
    with pytest.raises(RubricError) as info:
        load_rubric(path, BUILTIN)
    assert str(info.value).startswith(f"{path}: checks.numpy.model.train.batchsize: unknown key; allowed here: points, visibility, seed, timeout_s, release, epochs, batch_size")
    assert "(and 1 more problem)" in str(info.value)  # batch_size is now missing too


def test_rubric_that_is_not_toml_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, "name = \n")
    with pytest.raises(RubricError, match=r"rubric\.toml: not valid TOML: "):
        load_rubric(path, BUILTIN)


def test_missing_rubric_file_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match=r"nope\.toml: cannot read the rubric \(No such file or directory\); pass an existing file to --rubric"):
        load_rubric(tmp_path / "nope.toml", BUILTIN)


def test_check_timeout_overrides_the_rubric_limit() -> None:
    rubric = load_rubric(None, BUILTIN).rubric
    assert rubric.limits_for("numpy.relu.backward").timeout_s == 20
    assert rubric.limits_for("numpy.model.train").timeout_s == rubric.limits.timeout_s == 60
