#!/usr/bin/env python
# coding: utf-8

# # 第四章 简单神经网络（PyTorch 版）
# 数据在送进模型之前就已经展平成 (N, 784) 了

# In[1]:


import os
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision import datasets, transforms


# In[2]:


def mnist_dataset():
    train = datasets.MNIST('./data', train=True, download=True)
    test = datasets.MNIST('./data', train=False, download=True)
    x = train.data.numpy().reshape(-1, 28 * 28) / 255.0   # 展平
    x_test = test.data.numpy().reshape(-1, 28 * 28) / 255.0
    return (x, train.targets.numpy()), (x_test, test.targets.numpy())


# In[3]:


class myModel(nn.Module):
    def __init__(self):
        super(myModel, self).__init__()
        self.fc1 = nn.Linear(784, 100)
        self.fc2 = nn.Linear(100, 10)

    def forward(self, x):
        # x: (N, 784)，已经在 mnist_dataset 里展平
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return x


model = myModel()
print(model)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)


# In[4]:


train_data, test_data = mnist_dataset()
for epoch in range(50):
    x = torch.tensor(train_data[0], dtype=torch.float32)
    y = torch.tensor(train_data[1], dtype=torch.long)
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print('epoch', epoch, ': loss', loss.item())
