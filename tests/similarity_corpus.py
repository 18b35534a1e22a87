"""A synthetic class for the similarity tests and bench/similarity.py: copies in every disguise, and many honest students.

- The course template (numpy layers with blanks to fill, the TensorFlow skeleton).
- Independent, template-faithful students: the template with the usual one-line
  fills (`grad_x = grad_y @ W.T`, `grad_W = np.matmul(x.T, grad_y)`, the ReLU
  mask), drawn per student from the spellings real hand-ins use, sometimes the
  max-subtracting softmax or a scaled init, and a framework model of the usual
  lines (TensorFlow from the template, or PyTorch).
- Students who wrote code of their own ("originals"), and for each disguise a
  student who copied one of them: renamed variables, other comments and
  strings, reformatted, reordered methods and cells, extra dead code, all of
  these at once.
- Two published solutions, and students who copied them.

Everything is generated from a seed, as text (this module never parses code).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader.records import CheckResult, GradedPart, GradedSource, GradeReport
from grader.text import msg

Blocks = tuple[tuple[str, str], ...]
"""(definition name, source) in file order."""

# --------------------------------------------------------------------------- the template

MATMUL_T = '''class Matmul:
    def __init__(self):
        self.mem = {}

    def forward(self, x, W):
        h = np.matmul(x, W)
        self.mem={'x': x, 'W':W}
        return h

    def backward(self, grad_y):
        \'\'\'
        x: shape(N, d)
        w: shape(d, d')
        grad_y: shape(N, d')
        \'\'\'
        x = self.mem['x']
        W = self.mem['W']

        ####################
        \'\'\'计算矩阵乘法的对应的梯度\'\'\'
        ####################
{fill}
        return grad_x, grad_W'''

RELU_T = '''class Relu:
    def __init__(self):
        self.mem = {}

    def forward(self, x):
        self.mem['x']=x
        return np.where(x > 0, x, np.zeros_like(x))

    def backward(self, grad_y):
        \'\'\'
        grad_y: same shape as x
        \'\'\'
        ####################
        \'\'\'计算relu 激活函数对应的梯度\'\'\'
        ####################
{fill}
        return grad_x'''

SOFTMAX_T = '''class Softmax:
    \'\'\'
    softmax over last dimention
    \'\'\'
    def __init__(self):
        self.epsilon = 1e-12
        self.mem = {}

    def forward(self, x):
        \'\'\'
        x: shape(N, c)
        \'\'\'
        x_exp = np.exp({shifted})
        partition = np.sum(x_exp, axis=-1, keepdims=True)
        out = x_exp/(partition+self.epsilon)

        self.mem['out'] = out
        self.mem['x_exp'] = x_exp
        return out

    def backward(self, grad_y):
        \'\'\'
        grad_y: same shape as x
        \'\'\'
        s = self.mem['out']
        sisj = np.matmul(np.expand_dims(s,axis=2), np.expand_dims(s, axis=1)) # (N, c, c)
        g_y_exp = np.expand_dims(grad_y, axis=1)
        tmp = np.matmul(g_y_exp, sisj) #(N, 1, c)
        tmp = np.squeeze(tmp, axis=1)
        tmp = -tmp+grad_y*s
        return tmp'''

LOG_T = '''class Log:
    \'\'\'
    softmax over last dimention
    \'\'\'
    def __init__(self):
        self.epsilon = 1e-12
        self.mem = {}

    def forward(self, x):
        \'\'\'
        x: shape(N, c)
        \'\'\'
        out = np.log(x+self.epsilon)

        self.mem['x'] = x
        return out

    def backward(self, grad_y):
        \'\'\'
        grad_y: same shape as x
        \'\'\'
        x = self.mem['x']

        return 1./(x+1e-12) * grad_y'''

MODEL_T = '''class myModel:
    def __init__(self):

        self.W1 = {init1}
        self.W2 = {init2}

        self.mul_h1 = Matmul()
        self.mul_h2 = Matmul()
        self.relu = Relu()
        self.softmax = Softmax()
        self.log = Log()


    def forward(self, x):
        x = x.reshape(-1, 28*28)
        bias = np.ones(shape=[x.shape[0], 1])
        x = np.concatenate([x, bias], axis=1)

        self.h1 = self.mul_h1.forward(x, self.W1) # shape(5, 4)
        self.h1_relu = self.relu.forward(self.h1)
        self.h2 = self.mul_h2.forward(self.h1_relu, self.W2)
        self.h2_soft = self.softmax.forward(self.h2)
        self.h2_log = self.log.forward(self.h2_soft)

    def backward(self, label):
        self.h2_log_grad = self.log.backward(-label)
        self.h2_soft_grad = self.softmax.backward(self.h2_log_grad)
        self.h2_grad, self.W2_grad = self.mul_h2.backward(self.h2_soft_grad)
        self.h1_relu_grad = self.relu.backward(self.h2_grad)
        self.h1_grad, self.W1_grad = self.mul_h1.backward(self.h1_relu_grad)'''

INIT1, INIT2 = "np.random.normal(size=[28*28+1, 100])", "np.random.normal(size=[100, 10])"

TF_T = '''class myModel:
    def __init__(self):
        ####################
        \'\'\'声明模型对应的参数\'\'\'
        ####################
{init}
    def __call__(self, x):
        ####################
        \'\'\'实现模型函数体，返回未归一化的logits\'\'\'
        ####################
{call}
        return logits'''

TRAIN_T = '''def compute_loss(log_prob, labels):
     return np.mean(np.sum(-log_prob*labels, axis=1))'''


def put(template: str, **values: str) -> str:
    """`template` with each {name} replaced (str.format would trip over the code's own braces)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def template_numpy() -> Blocks:
    """The numpy notebook's definitions as handed out: the backward blanks empty."""
    return (("Matmul", put(MATMUL_T, fill="")), ("Relu", put(RELU_T, fill="")),
            ("Softmax", put(SOFTMAX_T, shifted="x")), ("Log", LOG_T),
            ("myModel", put(MODEL_T, init1=INIT1, init2=INIT2)), ("compute_loss", TRAIN_T))


def template_tf() -> str:
    """The TensorFlow notebook's model as handed out (its blanks hold only the markers)."""
    return put(TF_T, init="", call="")


def template_files() -> dict[str, str]:
    """The --template folder: the two course notebooks."""
    numpy_cells = ["import numpy as np", *[s for _, s in template_numpy()]]
    tf_cells = ["import tensorflow as tf\nfrom tensorflow.keras import layers, optimizers", template_tf(),
                "model = myModel()\noptimizer = optimizers.Adam()"]
    return {"tutorial_minst_fnn-numpy-exercise.ipynb": notebook(numpy_cells),
            "tutorial_minst_fnn-tf2.0-exercise.ipynb": notebook(tf_cells)}


# --------------------------------------------------------------------------- honest students

GRAD_X = ("grad_x = np.matmul(grad_y, W.T)", "grad_x = grad_y @ W.T", "grad_x = np.dot(grad_y, W.T)",
          "grad_x = grad_y.dot(W.T)", "grad_x = np.matmul(grad_y, np.transpose(W))", "grad_x = grad_y @ W.transpose()")
GRAD_W = ("grad_W = np.matmul(x.T, grad_y)", "grad_W = x.T @ grad_y", "grad_W = np.dot(x.T, grad_y)",
          "grad_W = x.T.dot(grad_y)", "grad_W = np.matmul(np.transpose(x), grad_y)", "grad_W = x.transpose() @ grad_y")
RELU_FILLS = ("grad_x = grad_y * (self.mem['x'] > 0)", "grad_x = np.where(self.mem['x'] > 0, grad_y, 0)",
              "x = self.mem['x']\n        grad_x = grad_y * (x > 0)", "grad_x = grad_y.copy()\n        grad_x[self.mem['x'] <= 0] = 0",
              "grad_x = grad_y * np.where(self.mem['x'] > 0, 1, 0)", "grad_x = (self.mem['x'] > 0).astype(np.float64) * grad_y",
              "grad_x = grad_y * (self.mem['x'] > 0).astype(float)", "x = self.mem['x']\n        grad_x = np.where(x > 0, grad_y, 0.0)")
SHIFTS = ("x", "x", "x", "x - np.max(x, axis=-1, keepdims=True)", "x - x.max(axis=-1, keepdims=True)")
INITS = ((INIT1, INIT2),) * 6 + (
    ("np.random.normal(size=[28*28+1, 100]) * 0.01", "np.random.normal(size=[100, 10]) * 0.01"),
    ("np.random.normal(size=[28*28+1, 100]) / np.sqrt(785)", "np.random.normal(size=[100, 10]) / np.sqrt(100)"),
    ("np.random.randn(785, 100) * np.sqrt(2 / 785)", "np.random.randn(100, 10) * np.sqrt(2 / 100)"),
)
COMMENTS = ("# 链式法则", "# dL/dx = dL/dy W^T", "# 反向传播", "# 注意转置", "# relu 的导数", "# TODO 检查形状", "# 参考课件")

TF_SIZES = ("100", "128", "128", "256", "200", "64", "98", "512")
TF_INPUT = ("784", "28*28", "28 * 28")
TF_WEIGHT = ("tf.random.normal([{i}, {o}], stddev=0.1)", "tf.random.normal(shape=[{i}, {o}], mean=0.0, stddev=0.01)",
             "tf.random.truncated_normal([{i}, {o}], stddev=0.1)", "tf.random.uniform([{i}, {o}], -0.05, 0.05)",
             "tf.random.normal([{i}, {o}])", "tf.random.normal([{i}, {o}], stddev=0.05)")
TF_BIAS = ("tf.zeros([{o}])", "tf.zeros(shape=[{o}])", "tf.zeros({o})", "tf.constant(0.1, shape=[{o}])", "tf.zeros([{o}], dtype=tf.float32)")
TF_EXTRA = ("", "", ", trainable=True", ", dtype=tf.float32", ", trainable=True, dtype=tf.float32")
TF_RESHAPE = ("x = tf.reshape(x, [-1, {i}])", "x = tf.reshape(x, (-1, {i}))", "x = tf.reshape(x, shape=[-1, {i}])",
              "x = tf.cast(tf.reshape(x, [-1, {i}]), tf.float32)", "x = tf.reshape(x, [x.shape[0], -1])")
TF_HIDDEN = ("h1 = tf.nn.relu(tf.matmul(x, self.W1) + self.b1)", "h1 = tf.nn.relu(x @ self.W1 + self.b1)",
             "h1 = tf.maximum(tf.matmul(x, self.W1) + self.b1, 0)", "z1 = tf.matmul(x, self.W1) + self.b1\n        h1 = tf.nn.relu(z1)",
             "h1 = tf.nn.relu(tf.add(tf.matmul(x, self.W1), self.b1))")
TF_OUT = ("logits = tf.matmul(h1, self.W2) + self.b2", "logits = h1 @ self.W2 + self.b2", "logits = tf.add(tf.matmul(h1, self.W2), self.b2)")

TORCH_FLATTEN = ("x = x.view(-1, 784)", "x = x.view(-1, 28*28)", "x = x.reshape(-1, 28 * 28)", "x = torch.flatten(x, 1)",
                 "x = x.view(x.size(0), -1)", "x = x.reshape(x.shape[0], -1)")
TORCH_ACT = ("x = F.relu(self.fc1(x))", "x = torch.relu(self.fc1(x))", "x = self.relu(self.fc1(x))")
TORCH_OUT = ("return self.fc2(x)", "x = self.fc2(x)\n        return x", "out = self.fc2(x)\n        return out")
TORCH_SUPER = ("super(myModel, self).__init__()", "super().__init__()")


@dataclass(frozen=True)
class Student:
    """One student's code: numpy definitions and the framework model, and how it is handed in."""

    name: str
    numpy: Blocks
    framework: str | None
    suffix: str = ".ipynb"


def honest_student(name: str, rng: random.Random) -> Student:
    """A template-faithful student: the usual fills, an occasional comment, a framework model of the usual lines."""
    def fill(*lines: str) -> str:
        body = "\n".join(f"        {line}" for line in lines)
        return body + (f"  {rng.choice(COMMENTS)}" if rng.random() < 0.3 else "")

    init1, init2 = rng.choice(INITS)
    numpy = (("Matmul", put(MATMUL_T, fill=fill(rng.choice(GRAD_X), rng.choice(GRAD_W)))),
             ("Relu", put(RELU_T, fill=fill(rng.choice(RELU_FILLS)))),
             ("Softmax", put(SOFTMAX_T, shifted=rng.choice(SHIFTS))), ("Log", LOG_T),
             ("myModel", put(MODEL_T, init1=init1, init2=init2)), ("compute_loss", TRAIN_T))
    framework = tf_model(rng) if rng.random() < 0.7 else torch_model(rng)
    return Student(name, numpy, framework, rng.choice((".ipynb", ".ipynb", ".py", ".md")))


def tf_model(rng: random.Random) -> str:
    """The TensorFlow template filled in the usual way: four variables, reshape, hidden layer, logits."""
    size, inputs, extra = rng.choice(TF_SIZES), rng.choice(TF_INPUT), rng.choice(TF_EXTRA)
    weight = rng.choice(TF_WEIGHT)
    decl = {"W1": weight.format(i=inputs, o=size), "b1": rng.choice(TF_BIAS).format(o=size),
            "W2": weight.format(i=size, o="10"), "b2": rng.choice(TF_BIAS).format(o="10")}
    order = rng.choice((("W1", "b1", "W2", "b2"), ("W1", "W2", "b1", "b2")))
    init = "\n".join(f"        self.{v} = tf.Variable({decl[v]}{extra})" for v in order)
    call = "\n".join(f"        {line}" for line in (rng.choice(TF_RESHAPE).format(i=inputs), rng.choice(TF_HIDDEN), rng.choice(TF_OUT)))
    return put(TF_T, init=init, call=call)


def torch_model(rng: random.Random) -> str:
    """A two-layer PyTorch model of the usual lines."""
    size = rng.choice(("100", "128", "256", "512", "64"))
    relu = "\n        self.relu = nn.ReLU()" if rng.random() < 0.5 else ""
    act = rng.choice(TORCH_ACT) if relu else rng.choice(TORCH_ACT[:2])
    return (f"class myModel(nn.Module):\n    def __init__(self):\n        {rng.choice(TORCH_SUPER)}\n"
            f"        self.fc1 = nn.Linear(784, {size}){relu}\n        self.fc2 = nn.Linear({size}, 10)\n\n"
            f"    def forward(self, x):\n        {rng.choice(TORCH_FLATTEN)}\n        {act}\n        {rng.choice(TORCH_OUT)}")


# --------------------------------------------------------------------------- students with code of their own

ORIGINAL_NUMPY_A = (
    ("Matmul", put(MATMUL_T, fill='''        assert grad_y.shape[0] == x.shape[0], "batch sizes differ"
        # 对 x 的梯度：grad_y 乘以 W 的转置
        grad_x = np.einsum('nk,dk->nd', grad_y, W)
        # 对 W 的梯度：把每个样本的外积加起来
        grad_W = np.einsum('nd,nk->dk', x, grad_y)
        assert grad_W.shape == W.shape, f"grad_W has shape {grad_W.shape}"''')),
    ("Relu", put(RELU_T, fill='''        mask = np.heaviside(self.mem['x'], 0.0)
        grad_x = np.multiply(mask, grad_y)''')),
    ("Softmax", put(SOFTMAX_T, shifted="x - np.max(x, axis=-1, keepdims=True)").split("    def backward")[0] + '''    def backward(self, grad_y):
        s = self.mem['out']
        n, c = s.shape
        grad_x = np.zeros_like(grad_y)
        for i in range(n):
            jacobian = np.diag(s[i]) - np.outer(s[i], s[i])
            grad_x[i] = jacobian.T.dot(grad_y[i])
        return grad_x'''),
    ("Log", LOG_T),
    ("myModel", put(MODEL_T, init1="np.random.randn(785, 100) * np.sqrt(2.0 / 785)", init2="np.random.randn(100, 10) * np.sqrt(2.0 / 100)")
     + '''

    def predict(self, x):
        self.forward(x)
        return np.argmax(self.h2_log, axis=1)

    def accuracy(self, x, labels):
        hits = self.predict(x) == np.argmax(labels, axis=1)
        return float(np.count_nonzero(hits)) / len(hits)'''),
)

ORIGINAL_NUMPY_B = (
    ("Matmul", '''class Matmul:
    def __init__(self):
        self.mem = {}

    def forward(self, x, W):
        self.mem['x'], self.mem['W'] = x, W
        return x.dot(W)

    def backward(self, grad_y):
        x, W = self.mem['x'], self.mem['W']
        grad_x = np.tensordot(grad_y, W, axes=([1], [1]))
        grad_W = np.tensordot(x, grad_y, axes=([0], [0]))
        return grad_x, grad_W'''),
    ("Relu", '''class Relu:
    def __init__(self):
        self.mem = {}

    def forward(self, x):
        self.mem['mask'] = (x > 0).astype(x.dtype)
        return x * self.mem['mask']

    def backward(self, grad_y):
        return grad_y * self.mem['mask']'''),
    ("Softmax", '''class Softmax:
    def __init__(self):
        self.epsilon = 1e-12
        self.mem = {}

    def forward(self, x):
        shifted = x - x.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        self.mem['s'] = e / (e.sum(axis=1, keepdims=True) + self.epsilon)
        return self.mem['s']

    def backward(self, grad_y):
        s = self.mem['s']
        inner = np.einsum('ij,ij->i', grad_y, s)[:, None]
        return s * (grad_y - inner)'''),
    ("Log", '''class Log:
    def __init__(self):
        self.epsilon = 1e-12
        self.mem = {}

    def forward(self, x):
        self.mem['x'] = x
        return np.log(np.clip(x, self.epsilon, None))

    def backward(self, grad_y):
        return grad_y / np.clip(self.mem['x'], self.epsilon, None)'''),
    ("myModel", put(MODEL_T, init1=INIT1, init2=INIT2)),
)

ORIGINAL_TF_C = '''class myModel:
    def __init__(self, hidden=(256, 128), keep=0.9):
        sizes = [784, *hidden, 10]
        self.keep = keep
        self.weights = []
        self.biases = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            scale = np.sqrt(2.0 / fan_in)
            self.weights.append(tf.Variable(tf.random.normal([fan_in, fan_out]) * scale))
            self.biases.append(tf.Variable(tf.zeros([fan_out])))
        self.W1, self.W2 = self.weights[0], self.weights[-1]
        self.b1, self.b2 = self.biases[0], self.biases[-1]

    def _dense(self, h, i, training):
        h = tf.matmul(h, self.weights[i]) + self.biases[i]
        if i < len(self.weights) - 1:
            h = tf.nn.relu(h)
            if training:
                h = tf.nn.dropout(h, rate=1 - self.keep)
        return h

    def __call__(self, x, training=False):
        h = tf.reshape(tf.cast(x, tf.float32), [-1, 784])
        for i in range(len(self.weights)):
            h = self._dense(h, i, training)
        logits = h
        return logits'''

ORIGINAL_TORCH_D = '''class myModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(28 * 28, 300),
            nn.LeakyReLU(0.01),
            nn.Dropout(p=0.2),
            nn.Linear(300, 100),
            nn.LeakyReLU(0.01),
            nn.Linear(100, 10),
        )
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight, nonlinearity='leaky_relu')
                nn.init.constant_(module.bias, 0.01)

    def forward(self, x):
        if x.dim() == 2:
            x = x.view(-1, 28, 28)
        logits = self.net(x.float())
        return logits'''

ORIGINAL_TF_E = '''class myModel:
    def __init__(self):
        init = tf.keras.initializers.HeNormal(seed=7)
        self.W1 = tf.Variable(init(shape=(784, 300)), name='W1')
        self.b1 = tf.Variable(tf.fill([300], 0.05), name='b1')
        self.W2 = tf.Variable(init(shape=(300, 10)), name='W2')
        self.b2 = tf.Variable(tf.fill([10], 0.05), name='b2')
        self.trainable_variables = [self.W1, self.b1, self.W2, self.b2]

    def __call__(self, x):
        flat = tf.reshape(x, [tf.shape(x)[0], -1]) / 255.0
        pre = tf.einsum('nd,dh->nh', flat, self.W1) + self.b1
        act = tf.where(pre > 0, pre, 0.01 * pre)
        logits = tf.einsum('nh,hk->nk', act, self.W2) + self.b2
        return logits'''

ORIGINAL_NUMPY_E = (
    ("Matmul", put(MATMUL_T, fill='''        grad_x = np.zeros_like(x)
        grad_W = np.zeros_like(W)
        for n in range(x.shape[0]):
            grad_x[n] = W @ grad_y[n]
            grad_W += np.outer(x[n], grad_y[n])''')),
    ("Relu", put(RELU_T, fill='''        grad_x = np.array(grad_y, copy=True)
        grad_x[np.less_equal(self.mem['x'], 0)] = 0.0''')),
    ("Softmax", put(SOFTMAX_T, shifted="x")),
    ("Log", LOG_T.replace("        return 1./(x+1e-12) * grad_y", "        safe = np.maximum(x, self.epsilon)\n        return np.divide(grad_y, safe)")),
    ("myModel", put(MODEL_T, init1=INIT1, init2=INIT2)),
)

KNOWN_NUMPY = (
    ("Matmul", put(MATMUL_T, fill='''        grad_x = np.matmul(grad_y, np.swapaxes(W, 0, 1))
        grad_W = np.matmul(np.swapaxes(x, 0, 1), grad_y)''')),
    ("Relu", put(RELU_T, fill='''        grad_x = grad_y * np.greater(self.mem['x'], 0).astype(np.float32)''')),
    ("Softmax", put(SOFTMAX_T, shifted="x").split("    def backward")[0] + '''    def backward(self, grad_y):
        s = self.mem['out']
        jac = np.einsum('ij,jk->ijk', s, np.eye(s.shape[-1])) - np.einsum('ij,ik->ijk', s, s)
        grad_x = np.einsum('ij,ijk->ik', grad_y, jac)
        return grad_x'''),
    ("Log", LOG_T),
    ("myModel", put(MODEL_T, init1=INIT1, init2=INIT2) + '''

    def step(self, lr=1e-5):
        self.W1 -= lr * self.W1_grad
        self.W2 -= lr * self.W2_grad

    def fit(self, x, y, epochs=50):
        for epoch in range(epochs):
            self.forward(x)
            self.backward(y)
            self.step()'''),
)

KNOWN_TF = '''class myModel:
    def __init__(self):
        self.dense1 = tf.keras.layers.Dense(256, activation='relu', kernel_initializer='he_uniform')
        self.drop = tf.keras.layers.Dropout(0.3)
        self.dense2 = tf.keras.layers.Dense(10, kernel_initializer='glorot_uniform')
        self.built_once = False

    def __call__(self, x, training=False):
        x = tf.reshape(x, (-1, 28 * 28))
        if not self.built_once:
            self.dense1.build((None, 784))
            self.built_once = True
        x = self.dense1(x)
        x = self.drop(x, training=training)
        logits = self.dense2(x)
        return logits'''


# --------------------------------------------------------------------------- disguises (text edits of trusted code)

def renamed(source: str, names: dict[str, str]) -> str:
    """Every whole-word occurrence of each name replaced (variables, attributes, dictionary keys alike)."""
    for old, new in names.items():
        source = re.sub(rf"\b{re.escape(old)}\b", new, source)
    return source


def recommented(source: str) -> str:
    """Comments removed, other comments added, docstrings and other strings reworded."""
    out = []
    for i, line in enumerate(source.splitlines()):
        code = re.sub(r"\s+#.*$", "", line) if "'#" not in line else line
        if code.strip().startswith("#"):
            continue
        code = re.sub(r"'''[^']*'''", "'''see the lecture notes, chapter 4'''", code)
        code = code.replace("'x'", "'inputs'").replace("'W'", "'weights'").replace('"batch sizes differ"', '"shape mismatch"')
        out.append(code + ("  # 自己写的" if i % 4 == 2 and code.strip() and not code.rstrip().endswith((":", ",", "(")) else ""))
    return "\n".join(out)


def reformatted(source: str) -> str:
    """Indentation 4 -> 2, no spaces around = and after commas, double quotes, blank lines added."""
    out = []
    for line in source.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        body = line.lstrip(" ")
        body = re.sub(r"(?<=[\w\])]) = (?=[\w\[(-])", "=", body)
        body = body.replace(", ", ",").replace("'", '"')
        out.append(" " * (indent // 2) + body)
        if body.startswith(("return", "self.mem")):
            out.append("")
    return "\n".join(out)


def reordered_methods(source: str) -> str:
    """A class's methods in reverse order (the class line and anything before the first method stay first)."""
    lines = source.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("    def ")]
    if len(starts) < 2:
        return source
    head = lines[:starts[0]]
    methods = ["\n".join(lines[a:b]).rstrip() for a, b in zip(starts, [*starts[1:], len(lines)])]
    return "\n".join(head) + "\n" + "\n\n".join(reversed(methods))


def padded(source: str, rng: random.Random) -> str:
    """Dead code inserted after some statements: pass, unused assignments, a never-taken branch."""
    junk = ("pass", "_unused = 0", "debug_flag = False", "if False:\n{pad}    print('never')", "tmp_value = None")
    out = []
    for line in source.splitlines():
        out.append(line)
        body = line.strip()
        if body and not body.endswith((":", ",", "(", "[")) and line.startswith("        ") and not body.startswith(("return", "#", "'", '"')) \
                and rng.random() < 0.35:
            pad = line[: len(line) - len(line.lstrip())]
            out.append(pad + rng.choice(junk).format(pad=pad))
    return "\n".join(out)


EXTRA_BLOCK = ("check_shapes", '''def check_shapes(*arrays):
    for a in arrays:
        print(a.shape)''')


# --------------------------------------------------------------------------- the class


@dataclass(frozen=True)
class Corpus:
    """A class with what the similarity check must find in it."""

    students: tuple[Student, ...]
    flagged: frozenset[tuple[str, str, str]]
    """(part, student, other) that must be flagged; `other` is a student or known:<file>."""
    known: dict[str, str] = field(default_factory=dict)
    """--known-solutions files: name -> content."""

    @property
    def honest(self) -> tuple[str, ...]:
        """Students who copied nothing and whom nobody copied (apart from the originals)."""
        involved = {name for _, a, b in self.flagged for name in (a, b)}
        return tuple(s.name for s in self.students if s.name not in involved)


NUMPY_RENAMES = {"grad_y": "dout", "grad_x": "dx", "grad_W": "dW", "mem": "cache", "mask": "keep", "jacobian": "J",
                 "hits": "correct", "labels": "onehot", "x": "inp"}
TF_RENAMES = {"h": "act", "sizes": "dims", "weights": "kernels", "biases": "offsets", "keep": "keep_prob", "fan_in": "n_in",
              "fan_out": "n_out", "scale": "std", "training": "is_train"}
TORCH_RENAMES = {"net": "layers_seq", "module": "m", "logits": "scores", "x": "images"}


def build_class(honest: int = 60, seed: int = 13) -> Corpus:
    """The class: `honest` independent students, five originals and their copies, and two known-solution copiers."""
    rng = random.Random(seed)
    students = [honest_student(f"21{5000 + i:05d}", rng) for i in range(honest)]

    def other(name: str) -> Student:
        return honest_student(name, rng)

    each: Callable[[Blocks, Callable[[str], str]], Blocks] = lambda blocks, edit: tuple((n, edit(s)) for n, s in blocks)
    originals = [
        replace(other("orig_a"), numpy=ORIGINAL_NUMPY_A),
        replace(other("orig_b"), numpy=ORIGINAL_NUMPY_B),
        replace(other("orig_c"), framework=ORIGINAL_TF_C),
        replace(other("orig_d"), framework=ORIGINAL_TORCH_D),
        replace(other("orig_e"), numpy=ORIGINAL_NUMPY_E, framework=ORIGINAL_TF_E, suffix=".py"),
    ]
    copies = [
        replace(other("copy_rename"), numpy=each(ORIGINAL_NUMPY_A, lambda s: renamed(s, NUMPY_RENAMES))),
        replace(other("copy_comments"), numpy=each(ORIGINAL_NUMPY_B, recommented)),
        replace(other("copy_reformat"), numpy=each(ORIGINAL_NUMPY_E, reformatted), framework=reformatted(ORIGINAL_TF_E)),
        replace(other("copy_reorder"), numpy=tuple(reversed(each(ORIGINAL_NUMPY_A, reordered_methods))), suffix=".ipynb"),
        replace(other("copy_deadcode"), framework=padded(ORIGINAL_TF_C, rng), numpy=(*each(ORIGINAL_NUMPY_B, lambda s: padded(s, rng)), EXTRA_BLOCK)),
        replace(other("copy_everything"), framework=_everything(ORIGINAL_TORCH_D, TORCH_RENAMES, rng)),
        replace(other("copy_known_numpy"), numpy=each(KNOWN_NUMPY, lambda s: recommented(renamed(s, NUMPY_RENAMES)))),
        replace(other("copy_known_numpy2"), numpy=KNOWN_NUMPY, suffix=".md"),
        replace(other("copy_known_tf"), framework=reordered_methods(reformatted(KNOWN_TF))),
    ]
    flagged = {
        ("numpy", "copy_rename", "orig_a"), ("numpy", "copy_comments", "orig_b"), ("numpy", "copy_reformat", "orig_e"),
        ("framework", "copy_reformat", "orig_e"), ("numpy", "copy_reorder", "orig_a"), ("numpy", "copy_rename", "copy_reorder"),
        ("numpy", "copy_deadcode", "orig_b"), ("numpy", "copy_comments", "copy_deadcode"), ("framework", "copy_deadcode", "orig_c"),
        ("framework", "copy_everything", "orig_d"),
        ("numpy", "copy_known_numpy", "known:csdn_answer.md"), ("numpy", "copy_known_numpy2", "known:csdn_answer.md"),
        ("numpy", "copy_known_numpy", "copy_known_numpy2"), ("framework", "copy_known_tf", "known:github_solution.ipynb"),
    }
    known = {"csdn_answer.md": markdown([s for _, s in KNOWN_NUMPY]),
             "github_solution.ipynb": notebook(["import tensorflow as tf", KNOWN_TF])}
    return Corpus(tuple(students + originals + copies), frozenset(_ordered(p) for p in flagged), known)


def _everything(source: str, names: dict[str, str], rng: random.Random) -> str:
    """Every disguise at once: renamed, recommented, reformatted, methods reordered, dead code."""
    return padded(reordered_methods(reformatted(recommented(renamed(source, names)))), rng)


def _ordered(pair: tuple[str, str, str]) -> tuple[str, str, str]:
    """(part, student, other) as similarity.csv orders them: two students by name, a known solution second."""
    part, a, b = pair
    return (part, a, b) if b.startswith("known:") or a < b else (part, b, a)


# --------------------------------------------------------------------------- as files and as reports


def notebook(cells: list[str]) -> str:
    """An nbformat-4 notebook with one code cell per text."""
    code: list[dict[str, object]] = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": c}
                                     for c in cells]
    return json.dumps({"cells": code, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, ensure_ascii=False)


def markdown(blocks: list[str]) -> str:
    """A report with each definition in a fenced python block."""
    return "# 第四章作业\n\n" + "\n\n".join(f"下面是代码：\n\n```python\n{b}\n```" for b in blocks) + "\n"


def student_cells(student: Student) -> list[str]:
    """The student's notebook cells: imports, the numpy definitions, the framework model."""
    imports = "import numpy as np\nimport tensorflow as tf\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F"
    return [imports, *[s for _, s in student.numpy], *([student.framework] if student.framework else [])]


def write_student(student: Student, folder: Path) -> Path:
    """The student's hand-in as folder/<name>/hw4<suffix>; returns its folder."""
    where = folder / student.name
    where.mkdir(parents=True, exist_ok=True)
    cells = student_cells(student)
    text = {".ipynb": notebook(cells), ".md": markdown(cells)}.get(student.suffix, "\n\n\n".join(cells) + "\n")
    (where / f"hw4{student.suffix}").write_text(text, encoding="utf-8")
    return where


def write_folder(files: dict[str, str], folder: Path) -> Path:
    """Write name -> content files into `folder`; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_text(content, encoding="utf-8")
    return folder


def as_report(student: Student) -> GradeReport:
    """The report grading would keep of `student`: each definition's source and where it is (no grading run)."""
    file = f"hw4{student.suffix}"
    notebook = student.suffix == ".ipynb"
    sources = [GradedSource(name=name, source=source, file_label=f"{file} [cell {cell}]" if notebook else file, line=1 if notebook else cell * 40)
               for cell, (name, source) in enumerate(student.numpy, start=2)]
    if student.framework:
        sources.append(GradedSource(name="framework:myModel", source=student.framework, file_label=f"{file} [cell 9]" if notebook else file,
                                    line=1 if notebook else 400))
    check = CheckResult(id="numpy.relu.backward", status="passed", score=10, max_score=10, message=msg("layers.passed", name="Relu", n=2))
    parts = (GradedPart(kind="numpy", file=file, definitions=tuple(n for n, _ in student.numpy)),
             *([GradedPart(kind="framework", file=file, framework="pytorch", definitions=("myModel",))] if student.framework else []))
    return GradeReport(student=student.name, submission=f"class/{student.name}", checks=(check,), parts=parts, sources=tuple(sources))
