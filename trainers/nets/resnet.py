"""The CIFAR ResNet family (He et al. 2016, section 4.2): a 3x3 stem, three stages of basic blocks with 16, 32
and 64 channels (the second and third halve the resolution), global average pooling and a linear readout;
depth 6n + 2 (8, 20, 32, 56). An ordinary `nn.Module`, trained through `wrap` with one block per residual
block, so the toolkit's ResNet is what a researcher's own would be.
"""

from torch import nn

from trainers.errors import ConfigError

DEPTHS = (8, 20, 32, 56)


class BasicBlock(nn.Module):
    """conv3x3 → BN → ReLU → conv3x3 → BN, plus the shortcut (identity, or a strided 1x1 conv → BN projection
    where the shape changes), then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.branch = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.branch(x) + self.shortcut(x))


class ResNet(nn.Module):
    """stem → stage1 → stage2 → stage3 → out (pool, flatten, linear); `depth` = 6n + 2 with n blocks per stage."""

    def __init__(self, depth: int, in_channels: int, num_classes: int, width: int = 16):
        super().__init__()
        per_stage = check_depth(depth)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        cin = width
        for stage in range(3):
            cout = width * 2 ** stage
            blocks = [BasicBlock(cin if i == 0 else cout, cout, 2 if stage and i == 0 else 1) for i in range(per_stage)]
            self.add_module(f"stage{stage + 1}", nn.Sequential(*blocks))
            cin = cout
        self.out = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))

    def forward(self, x):
        return self.out(self.stage3(self.stage2(self.stage1(self.stem(x)))))

    def block_names(self) -> list[str]:
        """The stem, every residual block ("stage2.0"), and the readout: the units of DFA and of the analyses."""
        return ["stem", *(f"stage{s}.{i}" for s in (1, 2, 3) for i in range(len(getattr(self, f"stage{s}")))), "out"]


def check_depth(depth) -> int:
    """Blocks per stage for a valid `depth` (6n + 2, n ≥ 1); one ConfigError otherwise."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ConfigError(f"--depth of a ResNet is 6n + 2 (e.g. {', '.join(map(str, DEPTHS))}); got {depth!r}")
    return (depth - 2) // 6


def resnet(input_shape, num_classes: int, depth: int = 20) -> tuple[nn.Module, list[str]]:
    """The factory of `--model resnet`: (the module, its block names)."""
    module = ResNet(depth, input_shape[0], num_classes)
    return module, module.block_names()

