import torch
import torch.nn as nn

# 数据在 DataLoader 里已经 view(-1, 784) 过了
n_classes = 10


class myModel(nn.Module):
    def __init__(self, hidden=128):
        super().__init__()
        self.fc1 = nn.LazyLinear(hidden)   # 输入维度第一次前向时自动推断
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(hidden, n_classes)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))
