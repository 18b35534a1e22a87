import torch
from torch import nn


class myModel(nn.Module):
    # 在全连接前面加了一层卷积，输入要求 (N, 1, 28, 28)
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(28 * 28, 100)
        self.fc2 = nn.Linear(100, 10)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        x = x.view(x.size(0), -1)
        return self.fc2(torch.relu(self.fc1(x)))
