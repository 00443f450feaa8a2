"""CNN baselines for 32x32 images: ResNet-18/50, VGG-16 (with batch norm) and the STN classifier.

- ResNet (He et al. 2016, "Deep Residual Learning"): y = F(x) + x, with F two 3x3 convs
  (BasicBlock, ResNet-18) or a 1x1-3x3-1x1 bottleneck (ResNet-50). The ImageNet stem (7x7 conv
  stride 2, then a max-pool) would shrink a 32x32 image to 8x8 before the first block, so CIFAR
  models use a 3x3 stride-1 conv and no max-pool (He et al. sec. 4.2 do the same for CIFAR).
  Names follow torchvision (``layer1.0.conv1``, ``downsample``, ``fc``), so torchvision's body
  weights load into these models unchanged (tests/test_cnn.py does that and compares outputs).
- VGG-16 (Simonyan & Zisserman 2015, configuration D) with batch norm after every conv; after five
  max-pools a 32x32 image is 1x1x512, so the three FC layers are 512 wide instead of 4096.
- :class:`STNClassifier`: a small CNN with a :class:`SpatialTransformer` in front (lesson 02).

All convs get Kaiming-normal init (He et al. 2015, for ReLU networks), batch norms start at the
identity. Every model checks its images' rank and dtype; ``model.check_finite = True`` (debug
mode) also checks them for NaN and infinite values.
"""
import torch
from torch import nn

from ..layers.stn import SpatialTransformer
from .checks import check_finite, check_image_dtype


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> list:
    """A conv with no bias (the BN after it has one) and its BatchNorm."""
    padding = kernel_size // 2  # "same" size at stride 1
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
    return [conv, nn.BatchNorm2d(out_channels)]


class BasicBlock(nn.Module):
    """Two 3x3 convs and a shortcut: relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(in_channels, channels, 3, stride)
        self.conv2, self.bn2 = _conv_bn(channels, channels, 3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, channels * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, channels, H / stride, W / stride)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)  # the residual connection


class Bottleneck(nn.Module):
    """1x1 (reduce) -> 3x3 (stride here, as torchvision's "ResNet v1.5") -> 1x1 (expand by 4)."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(in_channels, channels, 1)
        self.conv2, self.bn2 = _conv_bn(channels, channels, 3, stride)
        self.conv3, self.bn3 = _conv_bn(channels, channels * self.expansion, 1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, channels * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, 4 * channels, H / stride, W / stride)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
    """Identity when the shapes agree, else a strided 1x1 conv + BN (He et al.'s option B)."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(*_conv_bn(in_channels, out_channels, 1, stride))


class ResNet(nn.Module):
    """A ResNet with the CIFAR stem. Use :func:`resnet18` or :func:`resnet50`.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. (2, 2, 2, 2).
        num_classes, in_channels: of the task.
    """

    def __init__(self, block, layers, *, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        _check_sizes(num_classes=num_classes, in_channels=in_channels)
        self.check_finite = False
        self.conv1, self.bn1 = _conv_bn(in_channels, 64, 3)  # CIFAR stem: 3x3, stride 1, no pool
        self.relu = nn.ReLU(inplace=True)
        stages, width = [], 64
        for i, (channels, num_blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2  # stages 2-4 halve the resolution
            blocks = []
            for j in range(num_blocks):
                blocks.append(block(width, channels, stride if j == 0 else 1))
                width = channels * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)
        _kaiming_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, 32, 32) images -> (B, 512 * expansion, 4, 4) feature maps."""
        _check_input(self, x, self.conv1.weight)
        x = self.relu(self.bn1(self.conv1(x)))  # (B, 64, 32, 32)
        x = self.layer1(x)  # (B, 64 e, 32, 32)
        x = self.layer2(x)  # (B, 128 e, 16, 16)
        x = self.layer3(x)  # (B, 256 e, 8, 8)
        return self.layer4(x)  # (B, 512 e, 4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: images, (B, C, H, W).

        Returns:
            logits, (B, num_classes).
        """
        x = self.forward_features(x)
        x = self.avgpool(x).flatten(1)  # (B, 512 e)
        return self.fc(x)  # (B, num_classes)

    # What the model tells training and analysis code (the contract: models/protocol.py).
    def no_weight_decay(self) -> set[str]:
        """None beyond the 1-D parameters (biases, BatchNorm scales and shifts)."""
        return set()

    def get_classifier(self) -> nn.Module:
        return self.fc

    def gradcam_layer(self) -> nn.Module:
        """The last stage, ``layer4``: the last conv maps (4x4 at 32x32) before the pooling."""
        return self.layer4


def resnet18(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """ResNet-18, CIFAR stem (11.17M parameters for 10 classes)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes=num_classes, in_channels=in_channels)


def resnet50(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """ResNet-50, CIFAR stem (23.5M parameters for 10 classes)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes=num_classes, in_channels=in_channels)


# Configuration D of Simonyan & Zisserman (2015), Table 1: conv widths, "M" = 2x2 max-pool.
VGG16_LAYERS = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"
)


class VGG(nn.Module):
    """VGG with batch norm; ``features`` is laid out as torchvision's ``vgg16_bn().features``.

    Args:
        layers: conv widths, "M" for a 2x2 max-pool.
        num_classes, in_channels: of the task. dropout: in the classifier (the paper: 0.5).
    """

    def __init__(
        self,
        layers=VGG16_LAYERS,
        *,
        num_classes: int = 10,
        in_channels: int = 3,
        dropout: float = 0.5,
    ):
        super().__init__()
        _check_sizes(num_classes=num_classes, in_channels=in_channels)
        self.check_finite = False
        modules, width = [], in_channels
        for item in layers:
            if item == "M":
                modules.append(nn.MaxPool2d(2))
            else:
                conv = nn.Conv2d(width, item, 3, padding=1)  # with a bias, as torchvision
                modules += [conv, nn.BatchNorm2d(item), nn.ReLU(inplace=True)]
                width = item
        self.features = nn.Sequential(*modules)
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # 1x1 already at 32x32; lets larger inputs through
        self.classifier = nn.Sequential(
            nn.Linear(width, 512), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(512, num_classes),
        )
        _kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: images, (B, C, H, W).

        Returns:
            logits, (B, num_classes).
        """
        _check_input(self, x, self.features[0].weight)
        x = self.features(x)  # (B, 512, H/32, W/32)
        x = self.avgpool(x).flatten(1)  # (B, 512)
        return self.classifier(x)  # (B, num_classes)

    # What the model tells training and analysis code (the contract: models/protocol.py).
    def no_weight_decay(self) -> set[str]:
        """None beyond the 1-D parameters (biases, BatchNorm scales and shifts)."""
        return set()

    def get_classifier(self) -> nn.Module:
        return self.classifier[-1]

    def gradcam_layer(self) -> nn.Module:
        """The last conv's ReLU (2x2 at 32x32): the last max-pool would leave a single cell."""
        return self.features[-2]


def vgg16(num_classes: int = 10, in_channels: int = 3) -> VGG:
    """VGG-16 with batch norm for 32x32 images (15.25M parameters for 10 classes)."""
    return VGG(VGG16_LAYERS, num_classes=num_classes, in_channels=in_channels)


class STNClassifier(nn.Module):
    """Three conv-BN-ReLU-pool stages and two FC layers, with an optional STN in front (lesson 02).

    Args:
        num_classes, in_channels, image_size: of the task (image_size divisible by 8).
        use_stn: put a :class:`SpatialTransformer` in front; without it ``.stn`` is ``nn.Identity``.
        dropout: before the last layer.
    """

    def __init__(self, num_classes: int = 10, *, use_stn: bool = True, in_channels: int = 3,
                 image_size: int = 32, dropout: float = 0.5):
        super().__init__()
        _check_sizes(num_classes=num_classes, in_channels=in_channels, image_size=image_size)
        self.check_finite = False
        if image_size % 8:
            raise ValueError(
                f"image_size must be divisible by 8 (three 2x2 poolings), got {image_size}."
            )
        self.in_channels = in_channels
        self.image_size = image_size
        self.stn = nn.Identity()
        if use_stn:
            self.stn = SpatialTransformer(in_channels=in_channels, image_size=image_size)
        modules, width = [], in_channels
        for channels in (32, 64, 128):
            modules += [*_conv_bn(in_channels=width, out_channels=channels, kernel_size=3),
                        nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            width = channels
        self.features = nn.Sequential(*modules)
        side = image_size // 8
        self.classifier = nn.Sequential(
            nn.Linear(128 * side * side, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, num_classes),
        )
        _kaiming_init(self.features)  # not the STN: it must start at the identity
        _kaiming_init(self.classifier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x: images, (B, C, H, W).

        Returns:
            logits, (B, num_classes). ``model.stn(x)`` gives the transformed images.
        """
        if x.dim() != 4 or x.shape[1:] != (self.in_channels, self.image_size, self.image_size):
            raise ValueError(
                f"expected images (B, {self.in_channels}, {self.image_size}, {self.image_size}), "
                f"got {tuple(x.shape)}; resize them or build the model with other sizes."
            )
        _check_input(self, x, self.features[0].weight)
        x = self.stn(x)  # (B, C, H, W): straightened by the STN (or unchanged)
        x = self.features(x).flatten(1)  # (B, 128 * H/8 * W/8)
        return self.classifier(x)  # (B, num_classes)

    # What the model tells training and analysis code (the contract: models/protocol.py).
    def no_weight_decay(self) -> set[str]:
        """None beyond the 1-D parameters (biases, BatchNorm scales and shifts)."""
        return set()

    def get_classifier(self) -> nn.Module:
        return self.classifier[-1]

    def gradcam_layer(self) -> nn.Module:
        """The last conv's ReLU (H/4 x W/4), before the last max-pool."""
        return self.features[-2]


def _check_sizes(**sizes) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _check_input(model: nn.Module, x: torch.Tensor, weight: torch.Tensor) -> None:
    """Images (B, C, H, W) of the weights' dtype (and finite, in debug mode), or a ValueError."""
    if x.dim() != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"expected images (B, {weight.shape[1]}, H, W), got a tensor of shape "
                         f"{tuple(x.shape)}; for one image use x.unsqueeze(0).")
    check_image_dtype(x, weight)
    if model.check_finite:
        check_finite(x)


def _kaiming_init(module: nn.Module):
    """Kaiming-normal convs (fan_out, ReLU; as torchvision's ResNet), BN at the identity.
    Linear layers keep PyTorch's default init, as in torchvision."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
