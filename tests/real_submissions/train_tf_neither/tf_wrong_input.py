import tensorflow as tf


class myModel:
    def __init__(self):
        # 输入按 (N, 28*28) 写错成了 (N, 28*28*3)
        self.W1 = tf.Variable(tf.random.normal([28 * 28 * 3, 100], stddev=0.05))
        self.b1 = tf.Variable(tf.zeros([100]))
        self.W2 = tf.Variable(tf.random.normal([100, 10], stddev=0.05))
        self.b2 = tf.Variable(tf.zeros([10]))

    def __call__(self, x):
        h = tf.nn.relu(tf.matmul(x, self.W1) + self.b1)
        return tf.matmul(h, self.W2) + self.b2
