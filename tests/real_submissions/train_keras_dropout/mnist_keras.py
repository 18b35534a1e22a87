import tensorflow as tf


class myModel(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.flatten = tf.keras.layers.Flatten()
        self.d1 = tf.keras.layers.Dense(256, activation="relu")
        self.drop = tf.keras.layers.Dropout(0.4)
        self.d2 = tf.keras.layers.Dense(10)

    def call(self, x, training=False):
        x = self.flatten(x)
        x = self.d1(x)
        x = self.drop(x, training=training)
        return self.d2(x)
