"""Convolutional networks (curriculum 4): LeNet-5, VGG, ResNet and Inception, sized for small images.

    model = LeNet(activation="tanh", pooling="avg")                        # LeCun et al. (1998)
    model = VGG(blocks=(1, 1, 2), widths=(32, 64, 128), batch_norm=True)  # Simonyan & Zisserman (2014)
    model = ResNet(block="bottleneck", layers=(3, 4, 6, 3), width=16)      # He et al. (2016)
    model = Inception(blocks=(2, 2), widths=(64, 128))                     # Szegedy et al. (2015)

Every network here works on any ``(C, H, W)`` from 8x8 up: stride-2 downsampling is applied only
while the feature map is large enough, and the heads end in adaptive pooling (or a flatten whose
size is measured with a dummy forward), so an 8x8 digit never collapses to nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from dltoolkit.catalog import QualityTarget, register_model
from dltoolkit.models.classifier import ImageClassifier

Pooling = Literal["max", "avg"]
BlockName = Literal["basic", "bottleneck"]
Stem = Literal["small", "imagenet"]
Branch = Literal["5x5", "double3x3"]

#: The smallest feature map a stride-2 step may produce: below this, stages keep their resolution.
MIN_SIZE = 2


def conv_bn(
    c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1, batch_norm: bool = True
) -> nn.Sequential:
    """Conv (``same`` padding for odd kernels) → [BatchNorm] → ReLU: the unit most CNNs repeat."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=not batch_norm)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def can_halve(size: int) -> bool:
    """Whether a stride-2 step on a ``size``-pixel map keeps it at least ``MIN_SIZE`` pixels."""
    return size // 2 >= MIN_SIZE


def init_cnn(module: nn.Module) -> None:
    """He (Kaiming) normal init for convolutions (He et al., 2015), BatchNorm to identity, biases to zero."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# --- LeNet-5 -------------------------------------------------------------------------------------


@register_model(
    "lenet",
    topic="cnn",
    data="digits",
    data_hparams={"resize": 28, "augment": "crop", "batch_size": 32},
    target=QualityTarget("test/acc", 0.98, max_epochs=30, max_seconds=60),
    lr=3e-3,
    scheduler="onecycle",
)
class LeNet(ImageClassifier):
    """LeNet-5: two 5x5 conv + subsampling stages, then three fully connected layers (LeCun et al., 1998).

    Args:
        activation: ``tanh`` (the paper's squashing function) or ``relu``.
        pooling: subsampling by ``avg`` (close to the paper's trainable averaging) or ``max`` pooling.
    """

    def __init__(
        self, activation: Literal["tanh", "relu"] = "relu", pooling: Pooling = "max", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if activation not in ("tanh", "relu"):
            raise ValueError(f"unknown activation {activation!r}; expected tanh or relu")
        if pooling not in ("max", "avg"):
            raise ValueError(f"unknown pooling {pooling!r}; expected max or avg")
        act = nn.Tanh if activation == "tanh" else nn.ReLU
        pool = nn.MaxPool2d if pooling == "max" else nn.AvgPool2d
        c, h, _ = self.input_shape
        # C1 sees a 28x28 digit padded to the paper's 32x32; C3 is a valid 5x5 conv when the map allows
        # (14x14 -> 10x10), otherwise padded so that 8x8 inputs work too.
        c3_padding = 0 if h // 2 >= 10 else 2
        features = nn.Sequential(
            nn.Conv2d(c, 6, 5, padding=2),  # C1: (B, 6, H, W)
            act(),
            pool(2),  # S2: (B, 6, H/2, W/2)
            nn.Conv2d(6, 16, 5, padding=c3_padding),  # C3: (B, 16, H/2-4, W/2-4) for 28x28
            act(),
            pool(2),  # S4: (B, 16, 5, 5) for 28x28
            nn.Flatten(),  # (B, 16·5·5)
        )
        with torch.no_grad():  # the flatten size, measured rather than hard-coded to 400
            n_flat = features(torch.zeros(1, *self.input_shape)).shape[1]
        classifier = nn.Sequential(
            nn.Linear(n_flat, 120),  # C5
            act(),
            nn.Linear(120, 84),  # F6
            act(),
            nn.Linear(84, self.num_classes),  # output layer (the paper's RBF units, here a linear map)
        )
        self.net = nn.Sequential(OrderedDict(features=features, classifier=classifier))


# --- VGG -----------------------------------------------------------------------------------------


@register_model(
    "vgg",
    topic="cnn",
    data="digits",
    data_hparams={"augment": "crop", "batch_size": 32},
    target=QualityTarget("test/acc", 0.98, max_epochs=30, max_seconds=60),
    lr=3e-3,
    scheduler="onecycle",
    weight_decay=5e-4,
    optimizer="adamw",
)
class VGG(ImageClassifier):
    """VGG-style network: stages of stacked 3x3 convs, each then 2x2 max pooling (Simonyan & Zisserman, 2014).

    Args:
        blocks: number of 3x3 convolutions in each stage; its length is the number of stages.
        widths: output channels of each stage (same length as ``blocks``).
        batch_norm: batch normalisation after each convolution (Ioffe & Szegedy, 2015).
        hidden: width of the fully connected hidden layer of the classifier head (0: no hidden layer).
        dropout: dropout probability in the classifier head.
    """

    def __init__(
        self,
        blocks: Sequence[int] = (1, 1, 2),
        widths: Sequence[int] = (32, 64, 128),
        batch_norm: bool = True,
        hidden: int = 128,
        dropout: float = 0.3,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if len(blocks) != len(widths) or not blocks:
            raise ValueError(
                f"blocks and widths must be non-empty and of equal length, got {blocks}, {widths}"
            )
        if min(blocks) < 1 or min(widths) < 1:
            raise ValueError(f"blocks and widths must be positive, got {blocks}, {widths}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        c, size, _ = self.input_shape
        layers: list[nn.Module] = []
        for n_convs, width in zip(blocks, widths, strict=True):
            for _ in range(n_convs):
                layers.append(conv_bn(c, width, 3, batch_norm=batch_norm))  # (B, width, size, size)
                c = width
            if can_halve(size):
                layers.append(nn.MaxPool2d(2))  # (B, width, size/2, size/2)
                size //= 2
        features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]  # (B, C, h, w) -> (B, C)
        if hidden > 0:
            head += [nn.Linear(c, hidden), nn.ReLU(inplace=True)]
            c = hidden
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(c, self.num_classes))  # (B, K)
        classifier = nn.Sequential(*head)
        self.net = nn.Sequential(OrderedDict(features=features, classifier=classifier))
        init_cnn(self.net)


# --- ResNet --------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """Two 3x3 convs plus an identity or 1x1 shortcut: y = ReLU(F(x) + x) (He et al., 2016, eq. 1)."""

    expansion = 1

    def __init__(self, c_in: int, c_mid: int, stride: int = 1) -> None:
        super().__init__()
        c_out = c_mid * self.expansion
        self.residual = nn.Sequential(
            nn.Conv2d(c_in, c_mid, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_mid, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = projection(c_in, c_out, stride)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.residual(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce → 3x3 → 1x1 expand (x4), plus a shortcut: deep ResNets' block (He et al., 2016, fig. 5)."""

    expansion = 4

    def __init__(self, c_in: int, c_mid: int, stride: int = 1) -> None:
        super().__init__()
        c_out = c_mid * self.expansion
        self.residual = nn.Sequential(
            nn.Conv2d(c_in, c_mid, 1, bias=False),
            nn.BatchNorm2d(c_mid),
            nn.ReLU(inplace=True),
            # the stride sits on the 3x3, not the first 1x1 ("ResNet v1.5", as torchvision)
            nn.Conv2d(c_mid, c_mid, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_mid, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = projection(c_in, c_out, stride)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.residual(x) + self.shortcut(x))


def projection(c_in: int, c_out: int, stride: int) -> nn.Module:
    """The shortcut: identity when shapes match, else a strided 1x1 conv + BN (He et al., 2016, option B)."""
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))


# The three ResNets share one recipe: AdamW + one-cycle (Smith & Topin, 2019), label smoothing 0.1
# (Szegedy et al., 2016), random 1-pixel shifts; 20 epochs (15 for the deeper basic one) fit a 2-core CPU.
RESNET_RECIPE: dict[str, Any] = {
    "topic": "cnn",
    "data": "digits",
    "data_hparams": {"augment": "crop", "batch_size": 64},
    "optimizer": "adamw",
    "lr": 3e-3,
    "weight_decay": 5e-4,
    "scheduler": "onecycle",
    "label_smoothing": 0.1,
}


@register_model(
    "resnet",
    target=QualityTarget("test/acc", 0.985, max_epochs=20, max_seconds=60),
    block="basic",
    layers=(2, 2, 2, 2),
    width=16,
    **RESNET_RECIPE,
)
@register_model(
    "resnet34",
    target=QualityTarget("test/acc", 0.98, max_epochs=15, max_seconds=60),
    description="ResNet-34 layout (basic blocks, 3-4-6-3 per stage) narrowed for small images",
    block="basic",
    layers=(3, 4, 6, 3),
    width=16,
    **RESNET_RECIPE,
)
@register_model(
    "resnet50",
    target=QualityTarget("test/acc", 0.98, max_epochs=20, max_seconds=60),
    description="ResNet-50 layout (bottleneck blocks, 3-4-6-3 per stage) narrowed for small images",
    block="bottleneck",
    layers=(3, 4, 6, 3),
    width=8,
    **{**RESNET_RECIPE, "lr": 5e-3},  # the narrow bottleneck net wants a higher peak rate
)
class ResNet(ImageClassifier):
    """Residual network of basic or bottleneck blocks with identity shortcuts (He et al., 2016).

    Args:
        block: ``basic`` (two 3x3 convs, ResNet-18/34) or ``bottleneck`` (1x1-3x3-1x1, ResNet-50 and up).
        layers: number of blocks in each stage, e.g. ``(2, 2, 2, 2)`` (18-style) or ``(3, 4, 6, 3)``
            (34- and 50-style).
        width: channels of the first stage; each later stage doubles them (x4 at a bottleneck's output).
        stem: ``small`` (3x3 conv, stride 1, no max pool: for 8x8 to 32x32 images) or ``imagenet``
            (7x7 conv, stride 2, then 3x3 max pool, stride 2).
    """

    def __init__(
        self,
        block: BlockName = "basic",
        layers: Sequence[int] = (2, 2, 2, 2),
        width: int = 16,
        stem: Stem = "small",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if block not in ("basic", "bottleneck"):
            raise ValueError(f"unknown block {block!r}; expected basic or bottleneck")
        if stem not in ("small", "imagenet"):
            raise ValueError(f"unknown stem {stem!r}; expected small or imagenet")
        if not layers or min(layers) < 1 or width < 1:
            raise ValueError(f"layers and width must be positive, got {layers}, {width}")
        block_cls: type[BasicBlock | Bottleneck] = BasicBlock if block == "basic" else Bottleneck
        c, size, _ = self.input_shape
        if stem == "small":
            stem_net: nn.Module = conv_bn(c, width, 3)  # (B, width, H, W)
        else:  # 7x7 conv and 3x3 max pool, each stride 2 while the map allows (224 -> 56 in the paper)
            s1 = 2 if can_halve(size) else 1
            size = (size - 1) // s1 + 1  # a "same"-padded conv or pool with stride s: ceil(size / s)
            s2 = 2 if can_halve(size) else 1
            size = (size - 1) // s2 + 1
            stem_net = nn.Sequential(
                conv_bn(c, width, 7, stride=s1),  # (B, width, H/2, W/2)
                nn.MaxPool2d(3, stride=s2, padding=1),  # (B, width, H/4, W/4)
            )
        stages: list[nn.Module] = []
        c = width
        for i, n_blocks in enumerate(layers):
            c_mid = width * 2**i
            stride = 2 if i > 0 and can_halve(size) else 1  # the first stage keeps the stem's resolution
            size = (size - 1) // stride + 1
            blocks: list[nn.Module] = []
            for j in range(n_blocks):
                # (B, c_mid·expansion, size, size)
                blocks.append(block_cls(c, c_mid, stride if j == 0 else 1))
                c = c_mid * block_cls.expansion
            stages.append(nn.Sequential(*blocks))
        head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, self.num_classes))  # (B, K)
        self.net = nn.Sequential(OrderedDict(stem=stem_net, stages=nn.Sequential(*stages), head=head))
        init_cnn(self.net)
        for m in self.net.modules():  # zero-init the last BN of each residual: every block starts as identity
            if isinstance(m, BasicBlock | Bottleneck):
                last_bn = m.residual[-1]
                assert isinstance(last_bn, nn.BatchNorm2d)
                nn.init.zeros_(last_bn.weight)


# --- Inception (GoogLeNet) -----------------------------------------------------------------------


class InceptionBlock(nn.Module):
    """Four parallel branches concatenated on channels: 1x1 | 1x1→3x3 | 1x1→5x5 | 3x3 max pool→1x1.

    The channel split follows GoogLeNet's block 3a (64 | 96→128 | 16→32 | 32 of 256 outputs):
    ¼ | ⅜→½ | 1/16→⅛ | ⅛ of ``c_out``. ``branch="double3x3"`` replaces the 5x5 by two 3x3 convs
    (same receptive field, fewer weights; Szegedy et al., 2016).
    """

    def __init__(self, c_in: int, c_out: int, branch: Branch = "5x5", batch_norm: bool = True) -> None:
        super().__init__()
        if c_out < 8 or c_out % 8:
            raise ValueError(
                f"an Inception block's output channels must be a positive multiple of 8, got {c_out}"
            )
        c1 = c_out // 4  # 1x1 branch
        c3r, c3 = 3 * c_out // 8, c_out // 2  # 1x1 reduce, then 3x3
        c5r, c5 = max(1, c_out // 16), c_out // 8  # 1x1 reduce, then 5x5 (or two 3x3)
        cp = c_out // 8  # pool projection
        self.b1 = conv_bn(c_in, c1, 1, batch_norm=batch_norm)
        self.b3 = nn.Sequential(
            conv_bn(c_in, c3r, 1, batch_norm=batch_norm), conv_bn(c3r, c3, 3, batch_norm=batch_norm)
        )
        if branch == "5x5":
            wide: list[nn.Module] = [conv_bn(c5r, c5, 5, batch_norm=batch_norm)]
        else:
            wide = [conv_bn(c5r, c5, 3, batch_norm=batch_norm), conv_bn(c5, c5, 3, batch_norm=batch_norm)]
        self.b5 = nn.Sequential(conv_bn(c_in, c5r, 1, batch_norm=batch_norm), *wide)
        self.bp = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), conv_bn(c_in, cp, 1, batch_norm=batch_norm)
        )

    def forward(self, x: Tensor) -> Tensor:
        # (B, c1, H, W), (B, c3, H, W), (B, c5, H, W), (B, cp, H, W) -> (B, c_out, H, W)
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], dim=1)


@register_model(
    "inception",
    topic="cnn",
    data="digits",
    data_hparams={"augment": "crop", "batch_size": 64},
    target=QualityTarget("test/acc", 0.98, max_epochs=30, max_seconds=60),
    optimizer="adamw",
    lr=3e-3,
    weight_decay=5e-4,
    scheduler="onecycle",
)
class Inception(ImageClassifier):
    """GoogLeNet-style network: a small stem, then stages of Inception blocks (Szegedy et al., 2015).

    Args:
        stem_width: output channels of the 3x3 stem convolution.
        blocks: number of Inception blocks in each stage; a 2x2 max pool separates stages.
        widths: output channels of the blocks of each stage (multiples of 8; same length as ``blocks``).
        branch: the wide branch: ``5x5`` (the paper's) or ``double3x3`` (two 3x3 convs, Inception v2/v3).
        batch_norm: batch normalisation after each convolution (as in Inception v2).
        dropout: dropout probability before the final linear layer (0.4 in the paper).
    """

    def __init__(
        self,
        stem_width: int = 32,
        blocks: Sequence[int] = (1, 1),
        widths: Sequence[int] = (64, 128),
        branch: Branch = "5x5",
        batch_norm: bool = True,
        dropout: float = 0.2,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if len(blocks) != len(widths) or not blocks or min(blocks) < 1:
            raise ValueError(
                f"blocks and widths must be non-empty, positive and of equal length, got {blocks}, {widths}"
            )
        if branch not in ("5x5", "double3x3"):
            raise ValueError(f"unknown branch {branch!r}; expected 5x5 or double3x3")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        c, size, _ = self.input_shape
        layers: list[nn.Module] = [conv_bn(c, stem_width, 3, batch_norm=batch_norm)]  # (B, stem_width, H, W)
        c = stem_width
        for i, (n_blocks, width) in enumerate(zip(blocks, widths, strict=True)):
            if i > 0 and can_halve(size):
                layers.append(nn.MaxPool2d(2))  # (B, c, size/2, size/2)
                size //= 2
            for _ in range(n_blocks):
                layers.append(InceptionBlock(c, width, branch, batch_norm))  # (B, width, size, size)
                c = width
        features = nn.Sequential(*layers)
        head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),  # (B, C, 1, 1): global average pooling replaces GoogLeNet's FC layers
            nn.Flatten(),  # (B, C)
            nn.Dropout(dropout),
            nn.Linear(c, self.num_classes),  # (B, K)
        )
        self.net = nn.Sequential(OrderedDict(features=features, head=head))
        init_cnn(self.net)
