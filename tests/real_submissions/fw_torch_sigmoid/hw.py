import torch
from torch import nn

# 用 Sequential 写，激活函数用 sigmoid
class myModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 128),
            nn.Sigmoid(),
            nn.Linear(128, 10),
        )

    def forward(self, x):
        return self.net(x)

model = myModel()
print(sum(p.numel() for p in model.parameters()))
