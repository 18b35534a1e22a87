# Reference framework part in TensorFlow 2, in the course template's style.
#
# A plain class, not a keras Model: the template's training step reads the variables
# `W1, W2, b1, b2` by name and calls the model directly.

import tensorflow as tf


class myModel:
    def __init__(self):
        self.W1 = tf.Variable(tf.random.normal([28 * 28, 100]), trainable=True, dtype=tf.float32)
        self.b1 = tf.Variable(tf.zeros([100]), trainable=True, dtype=tf.float32)
        self.W2 = tf.Variable(tf.random.normal([100, 10]), trainable=True, dtype=tf.float32)
        self.b2 = tf.Variable(tf.zeros([10]), trainable=True, dtype=tf.float32)

    def __call__(self, x):
        # Returns unnormalised logits of shape (N, 10) for input (N, 28, 28) or (N, 784).
        x = tf.reshape(tf.cast(x, tf.float32), [-1, 28 * 28])
        h1 = tf.nn.relu(tf.matmul(x, self.W1) + self.b1)
        return tf.matmul(h1, self.W2) + self.b2
