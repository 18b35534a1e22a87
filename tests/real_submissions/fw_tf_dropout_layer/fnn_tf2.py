import tensorflow as tf
from tensorflow.keras import layers, optimizers


class myModel:
    def __init__(self):
        self.W1 = tf.Variable(tf.random.normal([28 * 28, 200], stddev=0.05))
        self.b1 = tf.Variable(tf.zeros([200]))
        self.W2 = tf.Variable(tf.random.normal([200, 10], stddev=0.05))
        self.b2 = tf.Variable(tf.zeros([10]))
        self.dropout = layers.Dropout(0.25)

    def __call__(self, x, training=True):
        x = tf.reshape(x, (-1, 784))
        h = tf.nn.relu(x @ self.W1 + self.b1)
        h = self.dropout(h, training=training)  # 只在训练时 dropout
        return h @ self.W2 + self.b2


model = myModel()
optimizer = optimizers.Adam(learning_rate=1e-3)
