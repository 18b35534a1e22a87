# Reference framework part in PyTorch: 784 -> 100 -> ReLU -> 10, returning logits.

import torch
from torch import nn


class myModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 100)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(100, 10)

    def forward(self, x):
        # Accepts images of shape (N, 28, 28) or flat rows of shape (N, 784).
        x = torch.reshape(x, (-1, 28 * 28))
        return self.fc2(self.relu(self.fc1(x)))
