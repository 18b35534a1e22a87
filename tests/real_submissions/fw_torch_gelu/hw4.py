import torch
import torch.nn as nn


class myModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 100)
        self.gelu = nn.GELU(approximate='tanh')
        self.fc2 = nn.Linear(100, 10)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        return self.fc2(self.gelu(self.fc1(x)))
