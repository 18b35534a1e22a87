# -*- coding: utf-8 -*-
"""第四章 作业 第二部分：pytorch 实现  2152344 王浩"""

import torch
import numpy as np

# 数据
# (x_train, y_train), (x_test, y_test) = load_mnist()
# x_train = x_train.reshape(60000, 784).astype('float32') / 255


class myModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.W1 = torch.nn.Parameter(torch.randn(784, 256) * 0.01)
        self.b1 = torch.nn.Parameter(torch.zeros(256))
        self.W2 = torch.nn.Parameter(torch.randn(256, 10) * 0.01)
        self.b2 = torch.nn.Parameter(torch.zeros(10))

    def forward(self, x):
        # print('x:', x.shape)   # 调试用
        h1 = torch.relu(torch.mm(x, self.W1) + self.b1)
        return torch.mm(h1, self.W2) + self.b2


model = myModel()
print(model)
for name, p in model.named_parameters():
    print(name, p.shape)
