import tensorflow as tf
from tensorflow.keras import layers


class myModel(tf.keras.Sequential):
    def __init__(self):
        super().__init__([
            layers.Dense(256, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10),
        ])


model = myModel()
model.compile(optimizer="adam", loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
# model.fit(x_train.reshape(-1, 784), y_train, epochs=5)
