# 用 keras 的 Sequential 搭建
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers, optimizers, datasets


class myModel(keras.Model):
    def __init__(self):
        super(myModel, self).__init__()
        self.model = keras.Sequential([
            layers.Flatten(),
            layers.Dense(128, activation='relu'),
            layers.Dense(10),
        ])

    def call(self, x):
        return self.model(x)


model = myModel()
optimizer = optimizers.Adam(learning_rate=0.001)
# model.build((None, 28, 28))
# model.summary()
