import torch
import torch.nn.functional as F
from torch import nn


class myModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 100)
        self.fc2 = nn.Linear(100, 10)

    def forward(self, x, training=True):
        h = torch.relu(self.fc1(x.reshape(-1, 784)))
        if training:  # F.dropout ignores model.eval(): only the flag turns it off
            h = F.dropout(h, 0.5)
        return self.fc2(h)
