import tensorflow as tf
from tensorflow.keras import layers


class myModel(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.fc1 = layers.Dense(100, activation="relu")
        self.fc2 = layers.Dense(10)

    def call(self, x):
        return self.fc2(self.fc1(tf.reshape(x, [-1, 784])))
