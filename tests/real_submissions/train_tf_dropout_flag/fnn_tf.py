import numpy as np
import tensorflow as tf
from tensorflow.keras import optimizers, datasets


class myModel:
    def __init__(self):
        self.W1 = tf.Variable(tf.random.truncated_normal([28 * 28, 256], stddev=0.05))
        self.b1 = tf.Variable(tf.zeros([256]))
        self.W2 = tf.Variable(tf.random.truncated_normal([256, 10], stddev=0.05))
        self.b2 = tf.Variable(tf.zeros([10]))
        self.keep = 0.5

    def __call__(self, x, training=True):
        x = tf.reshape(x, [-1, 784])
        if not training:
            print('inference on', x.shape[0], 'images')
        h1 = tf.nn.relu(tf.matmul(x, self.W1) + self.b1)
        if training:
            h1 = tf.nn.dropout(h1, rate=1 - self.keep)
        return tf.matmul(h1, self.W2) + self.b2


model = myModel()
optimizer = optimizers.Adam()
