"""Intake: finding the student's code, keeping definitions, choosing the file per part."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from grader.errors import UsageError
from grader.intake import load_submission
from grader.records import CodePart, Finding, SourceUnit, Submission
from grader.text import msg, verbatim

SEED = Path("/work/shared/seeds/000_0feca84766e8cab4.txt")

Write = Callable[[str, str], Path]

NUMPY_LAYERS = """\
import numpy as np

class Matmul:
    def __init__(self):
        self.mem = {}
    def forward(self, x, W):
        self.mem = {"x": x, "W": W}
        return x @ W
    def backward(self, grad_y):
        return grad_y @ self.mem["W"].T, self.mem["x"].T @ grad_y

class Relu:
    def __init__(self):
        self.mem = {}
    def forward(self, x):
        self.mem["x"] = x
        return np.maximum(x, 0)
    def backward(self, grad_y):
        return grad_y * (self.mem["x"] > 0)
"""

SOFTMAX_LOG = """\
class Softmax:
    def forward(self, x):
        e = np.exp(x)
        return e / e.sum(axis=1, keepdims=True)

class Log:
    def forward(self, x):
        return np.log(x + 1e-12)
"""

MNIST_MODEL = """\
class myModel:
    def __init__(self):
        self.W1 = np.random.normal(size=[28*28+1, 100])
        self.W2 = np.random.normal(size=[100, 10])
        self.mul_h1 = Matmul()
        self.relu = Relu()
"""

FITTING_MODEL = """\
class myModel:
    def __init__(self):
        self.W1 = np.random.normal(size=[2, 100])
        self.W2 = np.random.normal(size=[100, 1])
        self.mul_h1 = Matmul()
        self.relu = Relu()
"""

TF_MODEL = """\
class myModel:
    def __init__(self):
        self.W1 = tf.Variable(tf.random.normal([784, 100]))
        self.W2 = tf.Variable(tf.random.normal([100, 10]))
    def __call__(self, x):
        x = tf.reshape(x, [-1, 784])
        return tf.matmul(tf.nn.relu(tf.matmul(x, self.W1)), self.W2)
"""


def notebook(*cells: str | tuple[str, str]) -> str:
    """nbformat-4 JSON; a plain string is a code cell, ("markdown", text) any other cell."""
    as_cells = [("code", c) if isinstance(c, str) else c for c in cells]
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {"cell_type": kind, "metadata": {}, "source": text.splitlines(keepends=True), "outputs": []}
                for kind, text in as_cells
            ],
        }
    )


def fenced(code: str, info: str = "python", fence: str = "```") -> str:
    return f"{fence}{info}\n{code}{fence}\n"


@pytest.fixture
def sub(tmp_path: Path) -> Path:
    """The submission folder the `write` fixture fills."""
    folder = tmp_path / "student42"
    folder.mkdir()
    return folder


@pytest.fixture
def write(sub: Path) -> Write:
    """Write one file of a tiny submission (relative name, UTF-8 text)."""

    def _write(name: str, text: str) -> Path:
        path = sub / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


def numpy_part(submission: Submission) -> CodePart:
    __tracebackhide__ = True
    assert submission.numpy_part is not None, submission.findings
    return submission.numpy_part


def framework_part(submission: Submission) -> CodePart:
    __tracebackhide__ = True
    assert submission.framework_part is not None, submission.findings
    return submission.framework_part


def unit(part: CodePart, name: str) -> SourceUnit:
    __tracebackhide__ = True
    found = part.unit(name)
    assert found is not None, f"{name} not in {part.definitions}"
    return found


def messages(submission: Submission, severity: str) -> list[str]:
    return [str(f.message) for f in submission.findings if f.severity == severity]


def errors(submission: Submission) -> list[Finding]:
    return [f for f in submission.findings if f.severity == "error"]


# --------------------------------------------------------------------------- the seed report


@pytest.fixture
def seed(sub: Path) -> Submission:
    shutil.copy(SEED, sub / "report.md")
    return load_submission(sub)


def test_seed_report_numpy_part_has_the_five_classes_and_needs_no_import(seed: Submission) -> None:
    part = numpy_part(seed)
    assert part.definitions == ("Matmul", "Relu", "Softmax", "Log", "myModel")
    assert part.framework is None
    assert part.supplied_imports == ()
    assert "np.random.normal" in unit(part, "myModel").source


def test_seed_report_pytorch_section_is_detected_as_tensorflow(seed: Submission) -> None:
    part = framework_part(seed)
    assert part.framework == "tensorflow"
    assert part.definitions == ("myModel",)
    assert "tf.Variable" in unit(part, "myModel").source
    assert part.supplied_imports == ("import tensorflow as tf", "from tensorflow.keras import optimizers")


def test_seed_report_units_point_at_lines_of_the_md_file(seed: Submission) -> None:
    lines = SEED.read_text(encoding="utf-8").splitlines()
    model_lines = [i for i, line in enumerate(lines, 1) if line.startswith("class myModel")]
    assert unit(numpy_part(seed), "Matmul").line == lines.index("class Matmul: ") + 1
    assert unit(numpy_part(seed), "myModel").line == model_lines[0]
    assert unit(framework_part(seed), "myModel").line == model_lines[1]
    assert seed.findings == tuple(f for f in seed.findings if f.severity == "info")


def test_seed_report_drops_model_instances_and_optimizer(seed: Submission) -> None:
    sources = [u.source for part in (numpy_part(seed), framework_part(seed)) for u in part.units]
    assert not any("model = myModel()" in s or "optimizers.Adam" in s for s in sources)


# --------------------------------------------------------------------------- extraction


def test_md_fenced_blocks_are_extracted_with_file_line_numbers(sub: Path, write: Write) -> None:
    write(
        "hw.md",
        "# Report\n\n"  # lines 1-2
        + fenced("import numpy as np\n")  # fence on line 3, import on line 4
        + "text\n"  # line 6
        + fenced("\nclass Matmul:\n    f = np.dot\n", info="", fence="~~~")  # fence on 7, class on 9
        + fenced("class Softmax:\n    pass\n", info="bash")  # lines 12-15, not Python: ignored
        + fenced("class Relu:\n    pass\n", info="py"),  # fence on 16, class on 17
    )
    part = numpy_part(load_submission(sub))
    assert [(u.kind, u.name, u.line, u.cell) for u in part.units] == [
        ("import", None, 4, None),
        ("class", "Matmul", 9, None),
        ("class", "Relu", 17, None),
    ]


def test_md_block_with_syntax_error_is_skipped_with_file_line(sub: Path, write: Write) -> None:
    blocks = [fenced("class Matmul:\n    pass\n"), fenced("def f(:\n    pass\n"), fenced("class Relu: pass\n")]
    write("hw.md", "intro\n" + "".join(blocks))
    submission = load_submission(sub)
    [error] = errors(submission)
    assert (error.file, error.line) == ("hw.md", 7)
    assert str(error.message).startswith("SyntaxError: ")
    assert "(code block at line 6); this block was skipped" in str(error.message)
    assert error.message.id == "intake.block_skipped" and error.message.args["where"] == msg("intake.code_block", line=6)
    assert numpy_part(submission).definitions == ("Matmul", "Relu")


def test_unlabelled_md_block_that_is_not_python_is_info_not_error(sub: Path, write: Write) -> None:
    write("hw.md", fenced("epoch 0 : loss 23.3 ; accuracy 0.1\n", info="") + fenced("class Relu: pass\n"))
    submission = load_submission(sub)
    assert errors(submission) == []
    assert messages(submission, "info")[0] == (
        "skipped the code block at line 1: it names no language and is not Python (SyntaxError: invalid syntax)"
    )


def test_last_definition_of_a_name_wins(sub: Path, write: Write) -> None:
    cells = ["class Relu:\n    version = 1\n", "class Matmul: pass\n", "class Relu:\n    version = 2\n"]
    write("hw.ipynb", notebook(*cells))
    part = numpy_part(load_submission(sub))
    relu = unit(part, "Relu")
    assert "version = 2" in relu.source and relu.cell == 3
    assert part.definitions == ("Matmul", "Relu")


def test_top_level_code_other_than_definitions_is_dropped(sub: Path, write: Write) -> None:
    write(
        "hw.py",
        NUMPY_LAYERS
        + "EPOCHS = 50\nD = 28*28\nH: int = D // 8\nLR = -1e-5\n"
        + "x = np.zeros((3, 4))\nmodel = Matmul()\nprint(EPOCHS)\n"
        + "for epoch in range(EPOCHS):\n    model.forward(x, x)\n"
        + "if __name__ == '__main__':\n    print('hi')\n"
        + "get_ipython().run_line_magic('matplotlib', 'inline')\n"
        + "a = b = 1\n",
    )
    part = numpy_part(load_submission(sub))
    assert [(u.kind, u.name) for u in part.units] == [
        ("import", None),
        ("constant", "EPOCHS"),
        ("constant", "D"),
        ("constant", "H"),
        ("constant", "LR"),
        ("class", "Matmul"),
        ("class", "Relu"),
    ]
    assert unit(part, "H").source == "H: int = D // 8"


def test_ipython_magics_are_removed_and_line_numbers_kept(sub: Path, write: Write) -> None:
    magics = "%matplotlib inline\n!pip install numpy\nnp.matmul?\n?np.exp\nfiles = !ls\n"
    cell = magics + "class Matmul:\n    %time x = 1\n    pass\n"
    write("hw.ipynb", notebook(cell))
    submission = load_submission(sub)
    assert errors(submission) == []
    matmul = unit(numpy_part(submission), "Matmul")
    assert (matmul.cell, matmul.line) == (1, 6)
    assert matmul.source == "class Matmul:\n\n    pass"


def test_valid_python_that_starts_a_line_with_percent_is_not_touched(sub: Path, write: Write) -> None:
    write("hw.py", "N = 7\nclass Matmul:\n    def f(self, a):\n        return (a\n% N)\n")
    assert unit(numpy_part(load_submission(sub)), "Matmul").source.endswith("(a\n% N)")


def test_notebook_cell_with_syntax_error_is_a_finding_and_other_cells_are_kept(sub: Path, write: Write) -> None:
    write(
        "hw.ipynb",
        notebook("import numpy as np\n", ("markdown", "# Relu\n"), "x = 1\nclass Relu(:\n", "class Matmul: f = np.dot\n"),
    )
    submission = load_submission(sub)
    [error] = errors(submission)
    assert (error.file, error.line) == ("hw.ipynb", 2)
    assert str(error.message).startswith("SyntaxError: ")
    assert "(cell 2); this cell was skipped, the other cells are still used" in str(error.message)
    assert error.message == msg("intake.cell_skipped", problem=msg("intake.syntax_error", error=verbatim("invalid syntax")),
                                where=msg("intake.cell", cell=2))
    part = numpy_part(submission)
    assert [(u.name, u.cell) for u in part.units] == [(None, 1), ("Matmul", 3)]


def test_py_file_with_syntax_error_gives_its_line(sub: Path, write: Write) -> None:
    write("hw.py", "import numpy as np\n\nclass Relu:\n    def f(self)\n        pass\n")
    [error] = errors(load_submission(sub))
    assert (error.file, error.line) == ("hw.py", 4)
    assert str(error.message).endswith("; nothing in this file can be used until it parses")


def test_notebook_source_may_be_one_string(sub: Path, write: Write) -> None:
    cells = [{"cell_type": "code", "source": "class Relu:\n    pass\n", "metadata": {}, "outputs": []}]
    write("hw.ipynb", json.dumps({"nbformat": 4, "cells": cells}))
    assert numpy_part(load_submission(sub)).definitions == ("Relu",)


def test_decorated_definition_starts_at_its_first_decorator(sub: Path, write: Write) -> None:
    write("hw.py", "import functools\n\n@functools.cache\n@staticmethod\ndef helper():\n    return 1\nclass Relu: ...\n")
    helper = unit(numpy_part(load_submission(sub)), "helper")
    assert helper.line == 3
    assert helper.source == "@functools.cache\n@staticmethod\ndef helper():\n    return 1"


def test_undecodable_file_is_a_finding_and_other_files_still_count(sub: Path, write: Write) -> None:
    (sub / "broken.py").write_bytes(b"class Relu:\n    pass  # \xff\xff\n")
    write("hw.py", "class Matmul: pass\n")
    submission = load_submission(sub)
    assert errors(submission) == [
        Finding(
            severity="error",
            file="broken.py",
            message=msg("intake.undecodable"),
        )
    ]
    assert str(errors(submission)[0].message) == "could not decode the file as UTF-8 or GBK; save it as UTF-8 and hand it in again"
    assert numpy_part(submission).file == "hw.py"


def test_gbk_and_bom_encoded_files_are_read(sub: Path) -> None:
    (sub / "gbk.py").write_bytes("# 计算梯度\nclass Relu: pass\n".encode("gbk"))
    (sub / "bom.py").write_bytes("\ufeffclass Matmul: pass\n".encode("utf-8"))
    submission = load_submission(sub)
    assert errors(submission) == []
    assert submission.files == ("bom.py", "gbk.py")


def test_notebook_that_is_not_json_is_a_finding(sub: Path, write: Write) -> None:
    write("hw.ipynb", '{"cells": [')
    [error] = errors(load_submission(sub))
    assert error.file == "hw.ipynb"
    assert str(error.message).startswith("not a valid notebook: JSON error at line 1")


# --------------------------------------------------------------------------- choosing files


def test_function_fitting_notebook_loses_to_mnist_notebook(sub: Path, write: Write) -> None:
    write("function_fitting.ipynb", notebook(NUMPY_LAYERS, FITTING_MODEL))
    write("mnist.ipynb", notebook(NUMPY_LAYERS, SOFTMAX_LOG, MNIST_MODEL))
    submission = load_submission(sub)
    assert numpy_part(submission).file == "mnist.ipynb"
    assert messages(submission, "info") == [
        "mnist.ipynb: chosen for the numpy part: defines Matmul, Relu, Softmax, Log, myModel with the MNIST shapes",
        "function_fitting.ipynb: skipped for the numpy part: "
        "defines Matmul, Relu, myModel but no Softmax/Log and no MNIST shapes",
    ]


def test_mnist_shapes_written_with_constants_count(sub: Path, write: Write) -> None:
    write("a_fit.py", NUMPY_LAYERS + SOFTMAX_LOG + FITTING_MODEL)
    model = MNIST_MODEL.replace("28*28+1", "D + 1").replace("[100, 10]", "[100, C]")
    write("b_mnist.py", NUMPY_LAYERS + SOFTMAX_LOG + "D = 28 * 28\nC = 10\n" + model)
    assert numpy_part(load_submission(sub)).file == "b_mnist.py"


def test_checkpoint_copy_loses_to_real_notebook(sub: Path, write: Write) -> None:
    text = notebook(NUMPY_LAYERS, SOFTMAX_LOG, MNIST_MODEL)
    write(".ipynb_checkpoints/hw-checkpoint.ipynb", text)
    write("hw.ipynb", text)
    submission = load_submission(sub)
    assert submission.files == (".ipynb_checkpoints/hw-checkpoint.ipynb", "hw.ipynb")
    assert numpy_part(submission).file == "hw.ipynb"
    assert (
        ".ipynb_checkpoints/hw-checkpoint.ipynb: skipped for the numpy part: "
        "fits as well as hw.ipynb, which wins as the file outside .ipynb_checkpoints/"
    ) in messages(submission, "info")


def test_notebook_beats_py_export_with_same_code(sub: Path, write: Write) -> None:
    write("a_export.py", NUMPY_LAYERS)
    write("b_hw.ipynb", notebook(NUMPY_LAYERS))
    assert numpy_part(load_submission(sub)).file == "b_hw.ipynb"


def test_parts_may_come_from_different_files(sub: Path, write: Write) -> None:
    write("numpy_hw.ipynb", notebook(NUMPY_LAYERS, SOFTMAX_LOG, MNIST_MODEL))
    write("tf_hw.ipynb", notebook("import tensorflow as tf\n", TF_MODEL, "model = myModel()\n"))
    submission = load_submission(sub)
    assert numpy_part(submission).file == "numpy_hw.ipynb"
    part = framework_part(submission)
    assert (part.file, part.framework, part.supplied_imports) == ("tf_hw.ipynb", "tensorflow", ())


def test_other_directories_are_searched_but_hidden_ones_skipped(sub: Path, write: Write) -> None:
    write("code/part1/hw.py", NUMPY_LAYERS)
    write(".git/hooks/hook.py", NUMPY_LAYERS)
    write("__MACOSX/._hw.ipynb", "binary junk")
    assert load_submission(sub).files == ("code/part1/hw.py",)


# --------------------------------------------------------------------------- framework split


def test_torch_model_detected_via_nn_module_base(sub: Path, write: Write) -> None:
    model = "class myModel(nn.Module):\n    def forward(self, x):\n        return self.fc(x.view(-1, 784))\n"
    write("hw.py", NUMPY_LAYERS + model)
    part = framework_part(load_submission(sub))
    assert part.framework == "pytorch"
    assert part.supplied_imports == ("from torch import nn",)


def test_framework_found_through_the_files_imports(sub: Path, write: Write) -> None:
    model = "class myModel(tnn.Module):\n    pass\n"
    write("hw.py", "import torch.nn as tnn\n" + model)
    submission = load_submission(sub)
    assert framework_part(submission).framework == "pytorch"
    assert submission.numpy_part is None


def test_framework_part_takes_the_helper_layer_it_uses(sub: Path, write: Write) -> None:
    code = (
        "import torch\n"
        "class Dense(torch.nn.Module):\n    pass\n"
        "class Unused(torch.nn.Module):\n    pass\n"
        "class myModel(Dense):\n    def forward(self, x):\n        return F.log_softmax(self.fc(x), dim=1)\n"
    )
    write("hw.py", NUMPY_LAYERS + code)
    submission = load_submission(sub)
    part = framework_part(submission)
    assert (part.framework, part.definitions) == ("pytorch", ("Dense", "myModel"))
    assert part.supplied_imports == ("import torch.nn.functional as F",)
    assert numpy_part(submission).definitions == ("Matmul", "Relu")


def test_numpy_and_framework_mymodel_in_one_file_are_both_kept(sub: Path, write: Write) -> None:
    write("hw.ipynb", notebook(NUMPY_LAYERS, SOFTMAX_LOG, MNIST_MODEL, "import tensorflow as tf\n", TF_MODEL))
    submission = load_submission(sub)
    assert "np.random.normal" in unit(numpy_part(submission), "myModel").source
    assert "tf.Variable" in unit(framework_part(submission), "myModel").source
    assert unit(framework_part(submission), "myModel").cell == 5


def test_framework_is_read_from_code_not_file_name(sub: Path, write: Write) -> None:
    write("pytorch.md", "## pytorch\n" + fenced(TF_MODEL))
    assert framework_part(load_submission(sub)).framework == "tensorflow"


def test_missing_framework_part_is_a_warning(sub: Path, write: Write) -> None:
    write("hw.py", NUMPY_LAYERS + SOFTMAX_LOG + MNIST_MODEL)
    submission = load_submission(sub)
    assert submission.framework_part is None
    assert submission.findings[-1] == Finding(
        severity="warning",
        file="student42",
        message=msg("intake.no_framework_part"),
    )
    assert str(submission.findings[-1].message) == "no framework part found: no myModel using PyTorch or TensorFlow in any file"


def test_missing_numpy_part_is_a_warning(sub: Path, write: Write) -> None:
    write("tf.py", "import tensorflow as tf\n" + TF_MODEL)
    submission = load_submission(sub)
    assert submission.numpy_part is None
    expected = "no numpy part found: no Matmul, Relu, Softmax, Log or numpy myModel in any file"
    assert messages(submission, "warning") == [expected]


# --------------------------------------------------------------------------- supplied imports


def test_numpy_part_supplies_numpy_import_when_code_uses_np_unimported(sub: Path, write: Write) -> None:
    write("hw.md", fenced(SOFTMAX_LOG))
    part = numpy_part(load_submission(sub))
    assert part.supplied_imports == ("import numpy as np",)


def test_locally_bound_template_names_are_not_supplied(sub: Path, write: Write) -> None:
    write("hw.py", "class Relu:\n    def f(self, x):\n        F = x.shape[1]\n        return F\n")
    assert numpy_part(load_submission(sub)).supplied_imports == ()


def test_part_units_are_imports_then_constants_then_definitions(sub: Path, write: Write) -> None:
    write("hw.py", "class Relu:\n    z = np.zeros(H)\nimport numpy as np\nH = 100\nimport os\n")
    assert [u.name or u.source for u in numpy_part(load_submission(sub)).units] == [
        "import numpy as np",
        "H",
        "Relu",
    ]


def test_imports_the_part_does_not_use_are_left_out(sub: Path, write: Write) -> None:
    # A numpy part must not make every worker import TensorFlow for nothing.
    write("hw.py", "import numpy as np\nimport tensorflow as tf\nfrom os import *\nclass Relu:\n    z = np.zeros(1)\n")
    assert [u.source for u in numpy_part(load_submission(sub)).units if u.kind == "import"] == [
        "import numpy as np",
        "from os import *",
    ]


# --------------------------------------------------------------------------- paths and names


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(UsageError, match=rf"^{missing}: no such file or folder; pass a student's submission folder"):
        load_submission(missing)


def test_folder_without_code_is_a_usage_error(sub: Path, write: Write) -> None:
    write("notes.txt", "class Relu: pass\n")
    with pytest.raises(UsageError, match=rf"^{sub}: no \.ipynb, \.py, \.md file in this folder or below"):
        load_submission(sub)


def test_student_name_is_the_leading_number_of_a_report_file(sub: Path, write: Write) -> None:
    report = write("2151131_report.md", fenced("class Relu: pass\n"))
    submission = load_submission(report)
    assert (submission.student, submission.files) == ("2151131", ("2151131_report.md",))


@pytest.mark.parametrize(
    ("name", "want"),
    [("hw4.py", "hw4"), ("2151131-朱沙桐-作业.md", "2151131"), ("2151131.ipynb", "2151131")],
    ids=["plain-stem", "number-dash-name", "number-only"],
)
def test_student_name_from_single_file_stem(sub: Path, write: Write, name: str, want: str) -> None:
    assert load_submission(write(name, "class Relu: pass\n" if name.endswith(".py") else "")).student == want


def test_student_name_defaults_to_folder_and_can_be_given(sub: Path, write: Write) -> None:
    write("hw.py", "class Relu: pass\n")
    assert load_submission(sub).student == "student42"
    assert load_submission(sub, student="Zhu").student == "Zhu"


def test_narrow_part_keeps_only_what_the_named_class_needs(tmp_path: Path) -> None:
    from grader.intake.select import narrow_part

    (tmp_path / "hw.py").write_text(
        "import numpy as np\nEPS = 1e-12\ndef mask(x):\n    return x > 0\n"
        "class Relu:\n    def backward(self, g):\n        return g * mask(self.x)\n"
        "class Log:\n    import time\n    time.sleep(10**6)\n",
        encoding="utf-8",
    )
    part = load_submission(tmp_path).numpy_part
    assert part is not None
    narrowed = narrow_part(part, ["Relu"])
    assert [u.name or u.source for u in narrowed.units] == ["EPS", "mask", "Relu"]  # numpy is unused: intake dropped it


# --------------------------------------------------------------------------- parts by role (issue 12, patterns 6-8)

TORCH_LAYERS = """\
import numpy as np
import torch

class Matmul:
    def __init__(self):
        self.mem = {}
    def forward(self, x, W):
        x, W = torch.as_tensor(x), torch.as_tensor(W)
        self.mem = {"x": x, "W": W}
        return torch.matmul(x, W).numpy()
    def backward(self, grad_y):
        g = torch.as_tensor(grad_y)
        return (g @ self.mem["W"].T).numpy(), (self.mem["x"].T @ g).numpy()

class Relu:
    def __init__(self):
        self.mem = {}
    def forward(self, x):
        self.mem["x"] = x
        return np.maximum(x, 0)
    def backward(self, grad_y):
        x = torch.tensor(self.mem["x"], requires_grad=True)
        torch.relu(x).backward(torch.tensor(grad_y))
        return x.grad.numpy()
"""

TORCH_NET = """\
import torch
from torch import nn

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 100)
    def forward(self, x):
        return torch.relu(self.fc(x.reshape(-1, 784)))

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.out = nn.Linear(100, 10)
    def forward(self, x):
        return self.out(self.block(x))
"""


def libraries(part: CodePart, name: str) -> dict[str, list[tuple[str, str]]]:
    """Per method of class `name`: the (library, expression) the intake worker recorded."""
    outline = unit(part, name).outline
    assert outline is not None
    return {m.name: [(u.library, u.expression) for u in m.libraries] for m in outline.methods if m.libraries}


def test_layers_computing_with_torch_and_their_model_are_the_numpy_part(sub: Path, write: Write) -> None:
    write("hw.ipynb", notebook(TORCH_LAYERS, SOFTMAX_LOG, MNIST_MODEL))
    submission = load_submission(sub)
    part = numpy_part(submission)

    assert part.definitions == ("Matmul", "Relu", "Softmax", "Log", "myModel")
    assert submission.framework_part is None
    assert [u.source for u in part.units if u.kind == "import"] == ["import numpy as np", "import torch"]
    assert libraries(part, "Matmul") == {"forward": [("torch", "torch.matmul")], "backward": [("torch", "torch.as_tensor")]}
    # One autograd call in an otherwise numpy Relu: the method that makes it, the telling expression first.
    assert libraries(part, "Relu") == {"backward": [("torch", "torch.relu(...).backward")]}
    assert libraries(part, "myModel") == {}


def test_a_method_records_the_names_it_uses(sub: Path, write: Write) -> None:
    write("hw.py", NUMPY_LAYERS)
    outline = unit(numpy_part(load_submission(sub)), "Relu").outline
    assert outline is not None
    assert [(m.name, m.uses) for m in outline.methods] == [("__init__", ()), ("forward", ("np",)), ("backward", ())]


@pytest.mark.parametrize(("code", "want"), [
    ("import autograd.numpy as np\n", [("autograd", "np.maximum")]),
    ("import jax.numpy as jnp\nnp = jnp\n", []),  # `np = jnp` is not kept (not a constant): np is numpy's
    ("from torch import nn\n", []),
    ("import numpy as np\nimport tensorflow as tf\n", []),
], ids=["autograd-numpy", "jax-alias-dropped", "torch-imported-unused", "tf-imported-unused"])
def test_a_library_is_read_from_the_files_imports(sub: Path, write: Write, code: str, want: list[tuple[str, str]]) -> None:
    relu = "class Relu:\n    def forward(self, x):\n        return np.maximum(x, 0)\n"
    write("hw.py", code + relu)
    assert libraries(numpy_part(load_submission(sub)), "Relu").get("forward", []) == want


def test_type_checks_annotations_and_own_names_are_not_computing_with_a_library(sub: Path, write: Write) -> None:
    relu = (
        "import numpy as np\nimport torch\n"
        "class F:\n    pass\n"
        "class Relu:\n"
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
        "        if isinstance(x, torch.Tensor) or torch.is_tensor(x):\n"
        "            x = x.detach().numpy()\n"
        "        F()\n"
        "        return np.maximum(x, 0)\n"
        "    def backward(self, g):\n"
        "        import torch as t\n"
        "        return t.where(torch.zeros(1) > 0, g, g)\n"
    )
    write("hw.py", relu)
    assert libraries(numpy_part(load_submission(sub)), "Relu") == {"backward": [("torch", "t.where")]}


def test_a_layer_built_on_autograd_function_records_its_base(sub: Path, write: Write) -> None:
    code = ("import torch\nclass Relu(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x):\n"
            "        return x.clamp(min=0)\n    @staticmethod\n    def backward(ctx, g):\n        return g\n")
    write("hw.py", code)
    outline = unit(numpy_part(load_submission(sub)), "Relu").outline
    assert outline is not None
    assert [(u.library, u.expression, u.line) for u in outline.libraries] == [("torch", "torch.autograd.Function", 1)]


def test_a_framework_layer_without_backward_stays_with_the_framework_model(sub: Path, write: Write) -> None:
    code = ("import torch\nfrom torch import nn\nclass Relu(nn.Module):\n    def forward(self, x):\n        return x.clamp(min=0)\n"
            "class myModel(nn.Module):\n    def forward(self, x):\n        return self.fc2(Relu()(self.fc1(x.view(-1, 784))))\n")
    write("hw.py", code)
    submission = load_submission(sub)
    assert submission.numpy_part is None
    assert framework_part(submission).definitions == ("Relu", "myModel")


def test_the_tensorflow_template_model_is_still_the_framework_part(sub: Path, write: Write) -> None:
    write("hw.ipynb", notebook(TORCH_LAYERS, SOFTMAX_LOG, MNIST_MODEL, "import tensorflow as tf\n", TF_MODEL))
    submission = load_submission(sub)
    assert unit(framework_part(submission), "myModel").cell == 5
    assert framework_part(submission).framework == "tensorflow"
    assert numpy_part(submission).definitions == ("Matmul", "Relu", "Softmax", "Log", "myModel")


def test_a_framework_model_of_another_name_is_offered_under_an_alias(sub: Path, write: Write) -> None:
    write("hw.py", NUMPY_LAYERS + SOFTMAX_LOG + MNIST_MODEL)
    write("net.py", TORCH_NET)
    submission = load_submission(sub)
    part = framework_part(submission)

    assert (part.file, part.framework, part.definitions) == ("net.py", "pytorch", ("Block", "Net"))
    alias = unit(part, "myModel")
    assert (alias.kind, alias.source, alias.uses, alias.line) == ("constant", "myModel = Net", ("Net",), unit(part, "Net").line)
    assert part.units[-1] == alias  # after the class it names
    assert messages(submission, "info")[-1] == "no framework class is named myModel; graded `Net` (net.py) as the framework model"


def test_a_class_named_mymodel_wins_over_a_model_of_another_name(sub: Path, write: Write) -> None:
    write("net.py", TORCH_NET)
    write("tf.py", "import tensorflow as tf\n" + TF_MODEL)
    submission = load_submission(sub)
    assert framework_part(submission).file == "tf.py"
    assert not [f for f in submission.findings if f.message.id == "intake.framework_alias"]
    assert "net.py: skipped for the framework part: Net is a PyTorch model (no class is named myModel)" in messages(submission, "info")


def test_a_framework_class_without_the_mnist_shapes_is_not_a_model_to_grade(sub: Path, write: Write) -> None:
    write("net.py", "import torch\nfrom torch import nn\nclass Net(nn.Module):\n    def __init__(self):\n"
                    "        super().__init__()\n        self.fc = nn.Linear(3, 2)\n    def forward(self, x):\n        return self.fc(x)\n")
    assert load_submission(sub).framework_part is None


def test_narrow_part_keeps_the_class_an_alias_names(sub: Path, write: Write) -> None:
    from grader.intake.select import narrow_part

    write("net.py", TORCH_NET + "class Unused(nn.Module):\n    pass\n")
    narrowed = narrow_part(framework_part(load_submission(sub)), ["myModel"])
    assert [u.name for u in narrowed.units if u.kind != "import"] == ["Block", "Net", "myModel"]


FIT_MODELS = {
    "torch-linear": "from torch import nn\nclass myModel(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                    "        self.h = nn.Linear(1, 64)\n        self.o = nn.Linear(64, 1)\n",
    "keras-input-shape": "from tensorflow import keras\nclass myModel(keras.Model):\n    def __init__(self):\n        super().__init__()\n"
                         "        self.d1 = keras.layers.Dense(32, input_shape=(1,))\n        self.d2 = keras.layers.Dense(1)\n",
    "tf-variables": "import tensorflow as tf\nclass myModel:\n    def __init__(self):\n"
                    "        self.W1 = tf.Variable(tf.random.normal([1, 50]))\n        self.b1 = tf.Variable(tf.zeros([50]))\n"
                    "    def __call__(self, x):\n        return tf.matmul(x, self.W1) + self.b1\n",
    "torch-randn": "import torch\nclass myModel:\n    def __init__(self):\n        self.W1 = torch.randn(1, 20, requires_grad=True)\n"
                   "    def __call__(self, x):\n        return x @ self.W1\n",
}


@pytest.mark.parametrize("code", FIT_MODELS.values(), ids=FIT_MODELS.keys())
def test_a_framework_mymodel_with_one_input_feature_is_not_the_framework_part(sub: Path, write: Write, code: str) -> None:
    write("hw.py", NUMPY_LAYERS + SOFTMAX_LOG + MNIST_MODEL)
    write("fit.py", code)
    submission = load_submission(sub)
    reason = "myModel in fit.py takes 1 input feature, not 784; it looks like the function-fitting exercise; no MNIST framework model found"

    assert submission.framework_part is None
    assert messages(submission, "warning") == [reason]
    assert submission.framework_absence is not None and str(submission.framework_absence) == reason


@pytest.mark.parametrize("code", [
    "from torch import nn\nclass myModel(nn.Module):\n    def __init__(self, d):\n        super().__init__()\n"
    "        self.fc = nn.Linear(d, 100)\n        self.out = nn.Linear(100, 10)\n",
    "from torch import nn\nclass myModel(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.conv = nn.Conv2d(1, 8, 3)\n        self.fc = nn.Linear(8 * 26 * 26, 10)\n",
    "import tensorflow as tf\nclass myModel:\n    def __init__(self):\n        self.b1 = tf.Variable(tf.zeros([1, 100]))\n"
    "        self.W1 = tf.Variable(tf.random.normal([784, 100]))\n",
], ids=["unknown-inputs", "conv-first", "mnist-mentioned"])
def test_a_framework_mymodel_whose_inputs_are_not_known_to_differ_is_still_graded(sub: Path, write: Write, code: str) -> None:
    write("hw.py", code)
    submission = load_submission(sub)
    assert framework_part(submission).file == "hw.py"
    assert submission.framework_absence is None


def test_the_function_fitting_model_beside_the_homework_is_skipped_with_its_reason(sub: Path, write: Write) -> None:
    write("fit.py", FIT_MODELS["torch-linear"])
    write("hw.py", "import tensorflow as tf\n" + TF_MODEL)
    submission = load_submission(sub)
    assert framework_part(submission).file == "hw.py"
    assert submission.framework_absence is None
    assert ("fit.py: skipped for the framework part: myModel takes 1 input feature, not 784: "
            "it looks like the function-fitting exercise") in messages(submission, "info")


def test_a_framework_notebook_rewritten_with_numpy_is_the_reason_when_another_file_is_the_numpy_part(
        sub: Path, write: Write) -> None:
    rewrite = ("import numpy as np\nimport tensorflow as tf\nclass myModel:\n    def __init__(self):\n"
               "        self.W1 = np.random.normal(size=[784, 10])\n    def __call__(self, x):\n"
               "        return x.reshape(-1, 784) @ self.W1\n")
    write("numpy_part.py", NUMPY_LAYERS + SOFTMAX_LOG + MNIST_MODEL)
    write("tf_part.py", rewrite)
    submission = load_submission(sub)
    reason = "myModel in tf_part.py is written with numpy only, not PyTorch or TensorFlow; no framework model found"
    assert numpy_part(submission).file == "numpy_part.py"
    assert messages(submission, "warning") == [reason]
    assert str(submission.framework_absence) == reason


def test_a_numpy_only_submission_keeps_the_plain_missing_framework_warning(sub: Path, write: Write) -> None:
    write("hw.py", NUMPY_LAYERS + SOFTMAX_LOG + MNIST_MODEL)
    write("copy.py", NUMPY_LAYERS + SOFTMAX_LOG + MNIST_MODEL)  # the same notebook twice: its myModel builds on the layers
    submission = load_submission(sub)
    assert submission.framework_absence is None
    assert [f.message.id for f in submission.findings if f.severity == "warning"] == ["intake.no_framework_part"]


def test_narrow_part_leaves_out_imports_only_other_classes_use(sub: Path, write: Write) -> None:
    from grader.intake.select import narrow_part

    log = "class Log:\n    def backward(self, g):\n        return tf.constant(g)\n"
    write("hw.py", "import numpy as np\nimport tensorflow as tf\nfrom os.path import *\n" + NUMPY_LAYERS + log)
    part = numpy_part(load_submission(sub))
    narrowed = {name: narrow_part(part, [name]) for name in ("Relu", "Log")}

    assert [u.source for u in narrowed["Relu"].units if u.kind == "import"] == ["import numpy as np", "from os.path import *"]
    assert [u.source for u in narrowed["Log"].units if u.kind == "import"] == ["import tensorflow as tf", "from os.path import *"]


def test_imports_only_a_replaced_layer_used_can_be_left_out(sub: Path, write: Write) -> None:
    from grader.intake.select import without_unused_imports

    log = "class Log:\n    def backward(self, g):\n        return tf.constant(g)\n"
    write("hw.py", "import numpy as np\nimport tensorflow as tf\n" + NUMPY_LAYERS + log)
    part = numpy_part(load_submission(sub))
    staffed = part.model_copy(update={"units": tuple(u for u in part.units if u.name != "Log")})  # as the pipeline does

    assert [u.source for u in without_unused_imports(part).units if u.kind == "import"] == ["import numpy as np", "import tensorflow as tf"]
    assert [u.source for u in without_unused_imports(staffed).units if u.kind == "import"] == ["import numpy as np"]


def test_a_keras_model_of_another_name_needs_only_its_ten_classes(sub: Path, write: Write) -> None:
    layer = ("class Scale(tf.keras.layers.Layer):\n    def call(self, x):\n"
             "        return tf.reshape(x, [-1, 784]) * 10\n")
    net = ("class Net(tf.keras.Model):\n    def __init__(self):\n        super().__init__()\n"
           "        self.flatten = tf.keras.layers.Flatten()\n        self.d1 = tf.keras.layers.Dense(128, activation='relu')\n"
           "        self.d2 = tf.keras.layers.Dense(10)\n    def call(self, x):\n        return self.d2(self.d1(self.flatten(x)))\n")
    write("hw.py", "import tensorflow as tf\n" + layer + net)
    part = framework_part(load_submission(sub))
    assert (part.framework, part.definitions, unit(part, "myModel").source) == ("tensorflow", ("Net",), "myModel = Net")
