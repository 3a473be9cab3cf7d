"""Age regressors (chapter 04-original-model).

Both models map a batch of images ``N x 3 x S x S`` to ages ``N`` (years), and both can also
return the output of each of their blocks, the activations act_j that Blindspot's attention
loss L_attn compares (chapter 06-blindspot), through ``forward_with_activations``.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import nn

MODEL_NAMES = ("allcnn", "resnet18")


def _conv_block(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class _BlockRegressor(nn.Module):
    """Shared forward pass: ``_stem``, then each block in turn (its output kept as an
    activation), then global average pooling and the linear head to one output."""

    def _stem(self, x: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        return x, []

    def forward_with_activations(self, x: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        x, activations = self._stem(x)
        for block in self.blocks:
            x = block(x)
            activations.append(x)
        out = self.head(torch.flatten(self.pool(x), 1)).squeeze(1)
        return out, activations

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_activations(x)[0]


class AllCNN(_BlockRegressor):
    """The All-CNN regressor of the Deep Regression Unlearning code, with a width multiplier.

    Eight conv-BN-ReLU blocks with 96, 96, 192 (stride 2), 192, 192, 192 (stride 2), 192, 192
    (1x1) channels times ``width``, global average pooling, and a linear layer to one output.
    (The reference pools with a fixed 8x8 window, which assumes 32 px inputs; we pool
    adaptively, which is the same at 32 px and also works at other sizes.)
    """

    def __init__(self, width: float = 1.0, in_channels: int = 3):
        super().__init__()
        if width <= 0:
            raise ValueError(f"AllCNN width must be positive, got {width}")
        c1 = max(1, int(96 * width))
        c2 = max(1, int(192 * width))
        self.blocks = nn.ModuleList([
            _conv_block(in_channels, c1),
            _conv_block(c1, c1),
            _conv_block(c1, c2, stride=2),
            _conv_block(c2, c2),
            _conv_block(c2, c2),
            _conv_block(c2, c2, stride=2),
            _conv_block(c2, c2),
            _conv_block(c2, c2, kernel=1),
        ])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c2, 1)

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)


class ResNet18Regressor(_BlockRegressor):
    """torchvision's ResNet-18 (random initialisation, ``weights=None``) with a one-output head.

    The activations are those of the reference code: the stem, then each of the eight basic
    blocks.
    """

    def __init__(self, in_channels: int = 3):
        super().__init__()
        from torchvision.models import resnet18

        base = resnet18(weights=None)
        if in_channels != 3:
            base.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.stem = nn.Sequential(base.conv1, base.bn1, base.relu)
        self.maxpool = base.maxpool
        self.blocks = nn.ModuleList([*base.layer1, *base.layer2, *base.layer3, *base.layer4])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(base.fc.in_features, 1)

    @property
    def num_blocks(self) -> int:
        return len(self.blocks) + 1

    def _stem(self, x: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        x = self.stem(x)
        return self.maxpool(x), [x]


def build_model(name: str = "allcnn", width: float = 1.0, seed: Optional[int] = None) -> nn.Module:
    """A fresh, randomly initialised regressor by name (``allcnn`` or ``resnet18``).

    With ``seed`` the initial weights depend on the seed alone, not on what ran before in the
    process (the global random state is left as it was).
    """
    key = str(name).strip().lower()
    if key not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODEL_NAMES)}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(int(seed))
        return AllCNN(width=width) if key == "allcnn" else ResNet18Regressor()
