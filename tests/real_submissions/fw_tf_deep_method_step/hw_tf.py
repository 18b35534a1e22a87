import tensorflow as tf
from tensorflow.keras import optimizers


class myModel:
    def __init__(self):
        self.W1 = tf.Variable(tf.random.normal([784, 300], stddev=0.05))
        self.b1 = tf.Variable(tf.zeros([300]))
        self.W2 = tf.Variable(tf.random.normal([300, 100], stddev=0.05))
        self.b2 = tf.Variable(tf.zeros([100]))
        self.W3 = tf.Variable(tf.random.normal([100, 50], stddev=0.05))
        self.b3 = tf.Variable(tf.zeros([50]))
        self.W4 = tf.Variable(tf.random.normal([50, 10], stddev=0.05))
        self.b4 = tf.Variable(tf.zeros([10]))
        self.opt = optimizers.SGD(learning_rate=0.01)

    def __call__(self, x):
        x = tf.reshape(x, [-1, 784])
        h = tf.nn.relu(tf.matmul(x, self.W1) + self.b1)
        h = tf.nn.relu(tf.matmul(h, self.W2) + self.b2)
        h = tf.nn.relu(tf.matmul(h, self.W3) + self.b3)
        return tf.matmul(h, self.W4) + self.b4

    def train_one_step(self, x, y):
        with tf.GradientTape() as tape:
            logits = self(x)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(logits=logits, labels=y))
        params = [self.W1, self.b1, self.W2, self.b2]   # 模板里只有这四个
        grads = tape.gradient(loss, params)
        self.opt.apply_gradients(zip(grads, params))
        return loss
