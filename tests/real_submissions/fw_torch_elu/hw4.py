import torch
import torch.nn as nn


class myModel(nn.Module):
    """两层全连接，ELU 激活"""

    def __init__(self, hidden=64):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.act = nn.ELU()
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(torch.flatten(x, 1))))
