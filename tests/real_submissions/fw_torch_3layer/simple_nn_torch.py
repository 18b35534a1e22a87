# coding=utf-8
import torch
import torch.nn as nn
import torch.nn.functional as F

# 三层网络：784 -> 256 -> 128 -> 10，效果比两层好一点


class myModel(nn.Module):
    def __init__(self):
        super(myModel, self).__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x):
        x = x.view(-1, 784)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


model = myModel()
print(model)
