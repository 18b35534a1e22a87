import torch
import torch.nn as nn
import torch.nn.functional as F

batch_size = 64


class myModel(nn.Module):
    def __init__(self):
        super(myModel, self).__init__()
        self.fc1 = nn.Linear(784, 100)
        self.fc2 = nn.Linear(100, 10)

    def forward(self, x):
        x = x.view(batch_size, -1)     # 每个 batch 64 张图
        x = F.relu(self.fc1(x))
        return self.fc2(x)
