# -*- coding: utf-8 -*-
import torch
import torch.nn as nn
import torch.nn.functional as F


class myModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(784, 128)
        self.l2 = nn.Linear(128, 10)

    def forward(self, x):
        x = x.view(-1, 784)
        h = F.relu(self.l1(x))
        h = F.dropout(h, p=0.5)   # dropout，防止过拟合
        return self.l2(h)


if __name__ == "__main__":
    m = myModel()
    print(m(torch.zeros(2, 28, 28)).shape)
