import torch
import torch.nn.functional as F
from torch import nn


class myModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 100)
        self.fc2 = nn.Linear(100, 10)

    def forward(self, x):
        x = x.view(x.shape[0], -1)
        return F.log_softmax(self.fc2(F.relu(self.fc1(x))), dim=1)
