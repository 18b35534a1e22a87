import torch
import torch.nn as nn


class myModel(nn.Module):
    def __init__(self):
        super(myModel, self).__init__()
        self.layer1 = nn.Linear(28 * 28, 100)
        self.layer2 = nn.Linear(100, 10)

    def forward(self, x):
        x = x.reshape(-1, 28 * 28)
        h = torch.tanh(self.layer1(x))
        return self.layer2(h)


if __name__ == "__main__":
    m = myModel()
    print(m(torch.zeros(2, 28, 28)).shape)
