"""
深度学习 第四章作业：简单全连接神经网络
2151202 赵一凡

第一部分 numpy 实现，第二部分 tensorflow 实现
"""
import numpy as np


class Matmul:
    def __init__(self):
        self.mem = {}

    def forward(self, x, W):
        h = np.matmul(x, W)
        self.mem = {'x': x, 'W': W}
        return h

    def backward(self, grad_y):
        """
        x: shape(N, d)
        w: shape(d, d')
        grad_y: shape(N, d')
        """
        x = self.mem['x']
        W = self.mem['W']
        grad_x = grad_y @ W.T  # (N, d)
        grad_W = x.T @ grad_y  # (d, d')
        return grad_x, grad_W


class Relu:
    def __init__(self):
        self.mem = {}

    def forward(self, x):
        self.mem['x'] = x
        return np.maximum(x, 0)

    def backward(self, grad_y):
        """
        grad_y: same shape as x
        """
        mask = (self.mem['x'] > 0).astype(grad_y.dtype)
        grad_x = grad_y * mask
        return grad_x


class Softmax:
    """
    softmax over last dimention
    """
    def __init__(self):
        self.epsilon = 1e-12
        self.mem = {}

    def forward(self, x):
        """
        x: shape(N, c)
        """
        x_exp = np.exp(x - np.max(x, axis=-1, keepdims=True))
        partition = np.sum(x_exp, axis=-1, keepdims=True)
        out = x_exp / (partition + self.epsilon)

        self.mem['out'] = out
        self.mem['x_exp'] = x_exp
        return out

    def backward(self, grad_y):
        """
        grad_y: same shape as x
        """
        s = self.mem['out']
        # dL/dx_j = s_j * (g_j - sum_i g_i * s_i)
        return s * (grad_y - np.sum(grad_y * s, axis=-1, keepdims=True))


class Log:
    """
    softmax over last dimention
    """
    def __init__(self):
        self.epsilon = 1e-12
        self.mem = {}

    def forward(self, x):
        """
        x: shape(N, c)
        """
        out = np.log(x + self.epsilon)
        self.mem['x'] = x
        return out

    def backward(self, grad_y):
        """
        grad_y: same shape as x
        """
        x = self.mem['x']
        return 1. / (x + 1e-12) * grad_y


class myModel:
    def __init__(self):
        self.W1 = np.random.normal(size=[28 * 28 + 1, 100])
        self.W2 = np.random.normal(size=[100, 10])

        self.mul_h1 = Matmul()
        self.mul_h2 = Matmul()
        self.relu = Relu()
        self.softmax = Softmax()
        self.log = Log()

    def forward(self, x):
        x = x.reshape(-1, 28 * 28)
        bias = np.ones(shape=[x.shape[0], 1])
        x = np.concatenate([x, bias], axis=1)

        self.h1 = self.mul_h1.forward(x, self.W1)
        self.h1_relu = self.relu.forward(self.h1)
        self.h2 = self.mul_h2.forward(self.h1_relu, self.W2)
        self.h2_soft = self.softmax.forward(self.h2)
        self.h2_log = self.log.forward(self.h2_soft)

    def backward(self, label):
        self.h2_log_grad = self.log.backward(-label)
        self.h2_soft_grad = self.softmax.backward(self.h2_log_grad)
        self.h2_grad, self.W2_grad = self.mul_h2.backward(self.h2_soft_grad)
        self.h1_relu_grad = self.relu.backward(self.h2_grad)
        self.h1_grad, self.W1_grad = self.mul_h1.backward(self.h1_relu_grad)


def train_one_step(model, x, y):
    model.forward(x)
    model.backward(y)
    model.W1 -= 1e-5 * model.W1_grad
    model.W2 -= 1e-5 * model.W2_grad
    loss = np.mean(np.sum(-model.h2_log * y, axis=1))
    accuracy = np.mean(np.argmax(model.h2_log, axis=1) == np.argmax(y, axis=1))
    return loss, accuracy


# ======================= 第二部分：tensorflow =======================
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers, optimizers, datasets


class myModel:
    def __init__(self):
        ####################
        '''声明模型对应的参数'''
        ####################
        # 权重用较小的标准差初始化，否则 logits 太大，loss 一开始就是几十
        self.W1 = tf.Variable(tf.random.normal([28 * 28, 100], stddev=0.05), trainable=True)
        self.b1 = tf.Variable(tf.zeros([100]), trainable=True)
        self.W2 = tf.Variable(tf.random.normal([100, 10], stddev=0.05), trainable=True)
        self.b2 = tf.Variable(tf.zeros([10]), trainable=True)

    def __call__(self, x):
        ####################
        '''实现模型函数体，返回未归一化的logits'''
        ####################
        x = tf.reshape(x, [-1, 28 * 28])
        h1 = tf.nn.relu(tf.matmul(x, self.W1) + self.b1)
        logits = tf.matmul(h1, self.W2) + self.b2
        return logits


def compute_loss(logits, labels):
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(logits=logits, labels=labels))


def compute_accuracy(logits, labels):
    predictions = tf.argmax(logits, axis=1)
    return tf.reduce_mean(tf.cast(tf.equal(predictions, labels), tf.float32))


def tf_train_one_step(model, optimizer, x, y):
    with tf.GradientTape() as tape:
        logits = model(x)
        loss = compute_loss(logits, y)
    trainable_vars = [model.W1, model.W2, model.b1, model.b2]
    grads = tape.gradient(loss, trainable_vars)
    optimizer.apply_gradients(zip(grads, trainable_vars))
    accuracy = compute_accuracy(logits, y)
    return loss, accuracy


model = myModel()
optimizer = optimizers.Adam(learning_rate=1e-3)
(x, y), (x_test, y_test) = datasets.mnist.load_data()
x = tf.constant(x / 255.0, dtype=tf.float32)
y = tf.constant(y, dtype=tf.int64)
for epoch in range(50):
    loss, accuracy = tf_train_one_step(model, optimizer, x, y)
    print('epoch', epoch, ': loss', loss.numpy(), '; accuracy', accuracy.numpy())
