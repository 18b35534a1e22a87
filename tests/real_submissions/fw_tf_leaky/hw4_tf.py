import tensorflow as tf


class myModel:
    def __init__(self):
        self.W1 = tf.Variable(tf.random.uniform([784, 100], -0.1, 0.1))
        self.b1 = tf.Variable(tf.zeros([100]))
        self.W2 = tf.Variable(tf.random.uniform([100, 10], -0.1, 0.1))
        self.b2 = tf.Variable(tf.zeros([10]))

    def __call__(self, x):
        x = tf.reshape(x, [-1, 784])
        h = tf.nn.leaky_relu(tf.matmul(x, self.W1) + self.b1)   # leaky relu, alpha 默认 0.2
        return tf.matmul(h, self.W2) + self.b2
