import torch
from torch import nn


class myModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.W1 = nn.Parameter(torch.randn(784, 100) * 0.05)
        self.b1 = nn.Parameter(torch.randn(100) * 0.1)
        self.W2 = nn.Parameter(torch.randn(100, 10) * 0.1)
        self.b2 = nn.Parameter(torch.randn(10) * 0.1)

    def forward(self, x):
        h = torch.relu(x @ self.W1 + self.b1)
        return h @ self.W2 + self.b2
