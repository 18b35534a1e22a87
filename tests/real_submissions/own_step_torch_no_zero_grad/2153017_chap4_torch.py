#!/usr/bin/env python
# coding: utf-8

# In[1]:


import numpy as np
import torch
from torch import nn, optim


# In[2]:


class myModel(nn.Module):
    def __init__(self):
        super().__init__()
        ####################
        '''声明模型对应的参数'''
        ####################
        self.W1 = nn.Parameter(torch.randn(784, 100) * 0.05)
        self.b1 = nn.Parameter(torch.zeros(100))
        self.W2 = nn.Parameter(torch.randn(100, 10) * 0.05)
        self.b2 = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        ####################
        '''实现模型函数体，返回未归一化的logits'''
        ####################
        x = x.reshape(-1, 784)
        h1 = torch.relu(x @ self.W1 + self.b1)
        return h1 @ self.W2 + self.b2


model = myModel()
optimizer = optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()


# In[3]:


def train_one_step(model, optimizer, x, y):
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y)
    # 反向传播，更新参数
    loss.backward()
    optimizer.step()
    return loss


# In[4]:


# 训练 50 个 epoch（整批）
# for epoch in range(50):
#     loss = train_one_step(model, optimizer, train_x, train_y)
#     print('epoch', epoch, ': loss', loss.item())
