import tensorflow as tf
from tensorflow.keras import layers, optimizers, datasets

(x, y), (x_test, y_test) = datasets.mnist.load_data()
x = x.reshape(60000, 28 * 28).astype('float32') / 255.0
x_test = x_test.reshape(10000, 28 * 28).astype('float32') / 255.0


class myModel:
    def __init__(self):
        # 没有 Flatten：第一次调用时才按输入的最后一维建立权重
        self.net = tf.keras.Sequential([
            layers.Dense(100, activation='relu'),
            layers.Dense(10)
        ])

    def __call__(self, x):
        return self.net(x)


model = myModel()
print(model(x[:2]).shape)
