import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers


# 直接用 Keras 的 Sequential 搭
def myModel():
    return keras.Sequential([
        layers.Flatten(),
        layers.Dense(100, activation='relu'),
        layers.Dense(10),
    ])


model = myModel()
model.compile(optimizer='adam', loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=['accuracy'])
# model.fit(x_train, y_train, epochs=5)
