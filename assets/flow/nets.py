"""The seed's chunk classifiers in PyTorch (imported only by the trainers and pyfuncs that use them).

Both read the last T readings of a point as ``(batch, T, 2)``: the scaled value and a mask of which
steps exist, and answer with one logit: is the newest reading anomalous? Causal by construction.
"""

from __future__ import annotations

import torch
from torch import nn


class LSTMNet(nn.Module):
    """Bidirectional LSTM over the window (the whole window is the past, so both directions are
    causal); the newest step's state decides."""

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.lstm = nn.LSTM(2, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1]).squeeze(-1)


class FCN(nn.Module):
    """Fully convolutional network (Wang et al. 2017, as in the seed): three conv blocks, global
    average pooling; the newest reading is fed to the head beside the pooled features."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(2, 32, 7, padding=3), nn.BatchNorm1d(32), nn.ReLU(),
            nn.Conv1d(32, 64, 5, padding=2), nn.BatchNorm1d(64), nn.ReLU(),
            nn.Conv1d(64, 32, 3, padding=1), nn.BatchNorm1d(32), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(32 + 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x.transpose(1, 2)).mean(dim=2)
        return self.head(torch.cat([h, x[:, -1, :]], dim=1)).squeeze(-1)
