"""Calibrate the training thresholds: train every correct solution we have at several seeds.

    .venv/bin/python bench/calibrate.py [--seeds 0 1 2 3 4] [--mnist DIR] [--rubric FILE]

Prints, per solution and check, the test accuracies reached under the default rubric's
protocol. A threshold is sound when it sits well below the lowest accuracy of every correct
solution and well above what a broken gradient reaches (about 0.10).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from grader.checks.builtin import BUILTIN
from grader.intake import load_submission
from grader.mnist import load_mnist
from grader.pipeline import GradeSettings, MnistCache, run_checks
from grader.rubric import LoadedRubric, field_name, load_rubric
from grader.sandbox.pool import WarmRunner

REPO = Path(__file__).resolve().parents[1]
REAL_STYLE = (
    "train_torch_flat", "train_torch_flat_params", "train_torch_lazy", "train_torch_dropout", "train_torch_dropout_flag",
    "train_torch_tanh", "train_tf_flat", "train_tf_dropout_flag", "train_tf_tanh_key", "train_tf_sequential",
    "train_tf_sequential_flat", "train_keras_dropout", "train_keras_input_shape", "train_keras_sequential_subclass",
)
"""The correct models of tests/real_submissions/train_* (the broken ones there are not calibration material)."""
SOLUTIONS = [
    REPO / "reference" / "numpy_model.py",
    REPO / "reference" / "torch_model.py",
    REPO / "reference" / "tf_model.py",
    REPO / "submissions" / "2151131",
    REPO / "submissions" / "2151132",
    REPO / "submissions" / "2151133",
    *sorted((REPO / "tests" / "corpus").glob("correct_*")),
    # Real-style framework models (issue 12; tests/test_real_training.py): flattened (N, 784) input only, dropout
    # behind a training flag or nn.Dropout, Keras layers built on their first call, tanh hidden layers.
    *(REPO / "tests" / "real_submissions" / name for name in REAL_STYLE),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--mnist", type=Path, default=None)
    parser.add_argument("--rubric", type=Path, default=None, help="a candidate rubric (default: rubrics/default.toml)")
    args = parser.parse_args()
    loaded = load_rubric(args.rubric, BUILTIN)
    rubric = loaded.rubric
    mnist, runner = load_mnist(args.mnist), WarmRunner(1, limits=rubric.limits)
    print(f"MNIST: {mnist.source}; train {len(mnist.train_images)}, test {len(mnist.test_images)}")
    for path in SOLUTIONS:
        sub = load_submission(path)
        for part, check_id in ((sub.numpy_part, "numpy.model.train"), (sub.framework_part, "framework.model.train")):
            if part is None:
                continue
            spec = rubric.checks.get(check_id)
            start, accs = time.monotonic(), []
            for seed in args.seeds:
                # The rubric with this check's seed pinned to `seed`, graded by the pipeline like any run.
                checks = rubric.checks.model_copy(update={field_name(check_id): spec.model_copy(update={"seed": seed})})
                seeded = dataclasses.replace(loaded, rubric=rubric.model_copy(update={"checks": checks}))
                settings = GradeSettings(rubric=seeded, mnist=MnistCache(lambda: mnist), runner=runner, only=(check_id,))
                outcome = run_checks(sub, settings)[0]
                accuracy = getattr(outcome.evidence, "accuracy", None)
                accs.append(float("nan") if accuracy is None else accuracy)
                if outcome.status != "passed":
                    print(f"  seed {seed}: {outcome.status}: {outcome.message}")
            per_run = (time.monotonic() - start) / len(args.seeds)
            layout = getattr(outcome.evidence, "input_layout", None)
            label = f"{path.relative_to(REPO)} [{part.framework or 'numpy'}{', ' + layout if layout and '784' in layout else ''}]"
            threshold = getattr(spec, "threshold", float("nan"))
            print(f"{label:70s} min {min(accs):.3f} max {max(accs):.3f} threshold {threshold:.2f}  {per_run:.1f} s/run")


if __name__ == "__main__":
    main()
