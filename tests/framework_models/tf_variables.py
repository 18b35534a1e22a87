import tensorflow as tf


class myModel:
    def __init__(self):
        self.W1 = tf.Variable(tf.random.normal([784, 98], stddev=0.05))
        self.b1 = tf.Variable(tf.zeros([98]))
        self.W2 = tf.Variable(tf.random.normal([98, 10], stddev=0.05))
        self.b2 = tf.Variable(tf.zeros([10]))

    def __call__(self, x):
        x = tf.reshape(x, [-1, 784])
        h1 = tf.nn.relu(tf.matmul(x, self.W1) + self.b1)
        return tf.matmul(h1, self.W2) + self.b2
