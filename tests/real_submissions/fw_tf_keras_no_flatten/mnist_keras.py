import numpy as np
import tensorflow as tf
from tensorflow.keras import layers, datasets

(x_train, y_train), (x_test, y_test) = datasets.mnist.load_data()
x_train = x_train.reshape(-1, 784).astype('float32') / 255   # 先展平
x_test = x_test.reshape(-1, 784).astype('float32') / 255


class myModel(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.seq = tf.keras.Sequential([
            layers.Dense(128, activation='relu'),
            layers.Dense(10),
        ])

    def call(self, x):
        return self.seq(x)


model = myModel()
model.compile(optimizer='adam', loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(x_train, y_train, epochs=5, batch_size=128)
print(model.evaluate(x_test, y_test))
