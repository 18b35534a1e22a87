"""The sizes a model's code states: MNIST's 784 inputs and 10 classes, or the inputs of its first layer.

Runs only inside the intake worker, on trees it parsed.  Student arithmetic is
evaluated here (`28*28 + 1`, `D // 8` with `D` a constant of the file), so it is
kept small and fast: literals, known constants and the four operations.

The first layer's input size tells this homework (784 pixels) from the course's
function-fitting exercise (one input feature, `nn.Linear(1, 64)`), which students
keep in the same folder and sometimes in a notebook named for a framework.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable

MNIST_INPUTS = frozenset({784, 785})
"""784 pixels, 785 with the bias column of ones."""
MNIST_CLASSES = 10
_NUMBER_LIMIT = 1e12
_MAX_EXPONENT = 64
_ARITHMETIC: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
# Calls that make a model's first weight matrix: torch.randn(1, 50), tf.random.normal([1, 50]), np.random.normal(size=[1, 50]).
_RANDOM_WEIGHTS = frozenset({"randn", "rand", "normal", "uniform", "truncated_normal", "random_normal", "empty", "standard_normal"})
_OTHER_FIRST_LAYERS = frozenset({"Embedding", "RNN", "LSTM", "GRU", "SimpleRNN", "MultiheadAttention"})
_POSITIONAL_DIMS = frozenset({"randn", "rand", "empty"})  # np.random.normal(0, 1) and uniform(-1, 1) take no dims


def number(node: ast.AST, env: dict[str, float]) -> float | None:
    """The value of a small numeric expression of literals and known constants, else None."""
    value: object = None
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value
    elif isinstance(node, ast.Name):
        value = env.get(node.id)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = number(node.operand, env)
        value = None if operand is None else (-operand if isinstance(node.op, ast.USub) else operand)
    elif isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        value = _binary(node, env)
    if isinstance(value, (int, float)) and abs(value) <= _NUMBER_LIMIT:
        return value
    return None


def _binary(node: ast.BinOp, env: dict[str, float]) -> float | None:
    left, right = number(node.left, env), number(node.right, env)
    if left is None or right is None or (isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT):
        return None
    try:
        result = _ARITHMETIC[type(node.op)](left, right)
    except (ArithmeticError, ValueError):
        return None
    return result if isinstance(result, (int, float)) else None  # (-8) ** 0.5 is complex


def numbers_in(tree: ast.AST, env: dict[str, float]) -> set[float | None]:
    """Every number the code states, literal or computed (`28*28` counts as 784)."""
    try:
        return {number(node, env) for node in ast.walk(tree)}
    except RecursionError:
        return set()


def mentions_mnist(tree: ast.AST, env: dict[str, float]) -> bool:
    """Whether the code holds 784 or 785 (also as 28*28, 28*28+1, `D + 1`) and 10."""
    found = numbers_in(tree, env)
    return bool(found & MNIST_INPUTS) and MNIST_CLASSES in found


def input_features(tree: ast.AST, env: dict[str, float]) -> int | None:
    """The number of input features the model's first layer takes, when its code says so; else None.

    In source order, the first of: `Linear(a, b)` (PyTorch), a Keras layer with `input_shape=(a,)`,
    `input_dim=a` or `Input(shape=(a,))`, `Flatten(input_shape=(28, 28))` (their product), or a
    random first weight matrix `[a, b]`.  A Keras `Dense` without an input shape infers it: skipped.
    """
    calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset))
    for call in calls:
        found = _call_inputs(call, env)
        if found is not None:
            return found or None
    return None


def _call_inputs(call: ast.Call, env: dict[str, float]) -> int | None:
    """The inputs this call says the model takes; 0 for a first layer whose size is not known; None: not a first layer."""
    name = _func_name(call.func)
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    if name.startswith("Conv") or name in _OTHER_FIRST_LAYERS:
        return 0  # a first layer whose input is not a feature vector: nothing to tell
    if name == "Linear":
        first = call.args[0] if call.args else keywords.get("in_features")
        return (_integer(number(first, env)) if first is not None else None) or 0
    if "input_shape" in keywords:
        return _product(_shape(keywords["input_shape"], env)) or 0
    if "batch_input_shape" in keywords:
        shape = _shape(keywords["batch_input_shape"], env)
        return _product(shape[1:] if shape else None) or 0
    if name in ("Input", "InputLayer") and "shape" in keywords:
        return _product(_shape(keywords["shape"], env)) or 0
    if "input_dim" in keywords:
        return _integer(number(keywords["input_dim"], env)) or 0
    if name in _RANDOM_WEIGHTS:
        shape = _weight_shape(name, call, keywords, env)
        if shape is not None and len(shape) == 2:
            return _integer(shape[0]) or 0
    return None


def _weight_shape(name: str, call: ast.Call, keywords: dict[str, ast.expr], env: dict[str, float]) -> list[float | None] | None:
    """The shape a random-weights call makes: `size=`/`shape=`, one list argument, or dims (`torch.randn(1, 50)`)."""
    for key in ("size", "shape"):
        if key in keywords:
            return _shape(keywords[key], env)
    if len(call.args) == 1 and isinstance(call.args[0], (ast.List, ast.Tuple)):
        return _shape(call.args[0], env)
    if name in _POSITIONAL_DIMS and call.args:
        return [number(a, env) for a in call.args]
    return None


def _shape(node: ast.AST, env: dict[str, float]) -> list[float | None] | None:
    if isinstance(node, (ast.List, ast.Tuple)):
        return [number(e, env) for e in node.elts]
    value = number(node, env)
    return None if value is None else [value]


def _product(shape: list[float | None] | None) -> int | None:
    if not shape or any(d is None for d in shape):
        return None
    total = 1.0
    for dim in shape:
        total *= float(dim or 0)
    return _integer(total)


def _integer(value: float | None) -> int | None:
    return int(value) if value is not None and float(value).is_integer() and value > 0 else None


def _func_name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""
