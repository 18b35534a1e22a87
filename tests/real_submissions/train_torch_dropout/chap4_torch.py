# In[ ]:
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


# In[ ]:
class myModel(nn.Module):
    """两层全连接网络，加了 dropout 防止过拟合"""

    def __init__(self, hidden=256, p_drop=0.5):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(28 * 28, hidden),
            nn.ReLU(),
            nn.Dropout(p_drop),
            nn.Linear(hidden, 10),
        )

    def forward(self, x):
        return self.net(x)


# In[ ]:
def evaluate(model, loader):
    model.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in loader:
            correct += (model(xb).argmax(1) == yb).sum().item()
    return correct / len(loader.dataset)
