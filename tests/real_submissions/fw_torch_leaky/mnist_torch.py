import torch
import torch.nn as nn
import torch.nn.functional as F


class myModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(28 * 28, 100)
        self.out = nn.Linear(100, 10)

    def forward(self, x):
        x = x.reshape(x.shape[0], -1)
        x = F.leaky_relu(self.hidden(x), negative_slope=0.1)
        return self.out(x)
