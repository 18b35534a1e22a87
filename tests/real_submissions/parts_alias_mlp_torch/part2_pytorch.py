import torch
from torch import nn
import torch.nn.functional as F


INPUT_SIZE = 28 * 28
HIDDEN = 256
NUM_CLASSES = 10


def init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.kaiming_normal_(m.weight)
        nn.init.zeros_(m.bias)


class Flat(nn.Module):
    """把 (N, 28, 28) 拉平成 (N, 784)"""
    def forward(self, x):
        return x.reshape(x.shape[0], -1)


class MLP(nn.Module):
    def __init__(self):
        super(MLP, self).__init__()
        self.net = nn.Sequential(
            Flat(),
            nn.Linear(INPUT_SIZE, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, NUM_CLASSES),
        )
        self.net.apply(init_weights)

    def forward(self, x):
        return self.net(x)

model = MLP()
optimizer = torch.optim.Adam(model.parameters())

def compute_loss(logits, labels):
    return F.cross_entropy(logits, labels)

def compute_accuracy(logits, labels):
    predictions = torch.argmax(logits, dim=1)
    return (predictions == labels).float().mean()

def train_one_step(model, optimizer, x, y):
    optimizer.zero_grad()
    logits = model(x)
    loss = compute_loss(logits, y)
    loss.backward()
    optimizer.step()
    accuracy = compute_accuracy(logits, y)
    return loss.item(), accuracy.item()
