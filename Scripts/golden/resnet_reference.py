# torchvision's ResNet (BasicBlock) with the CIFAR stem of the published ResNet zoos (SANE-SPEC §9):
# conv1 3x3 stride 1 padding 1, no max-pool, width multiplier w (64 = the real models).
# Written out (torchvision is not needed) with torchvision's module names, so state_dict keys are
# torchvision's: conv1.weight, bn1.*, layer2.0.downsample.0.weight, fc.bias, ...
import torch, torch.nn as nn, torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, inp, out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, out, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(out)
        self.conv2 = nn.Conv2d(out, out, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or inp != out:
            self.downsample = nn.Sequential(nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    def __init__(self, blocks, width=64, channels_in=3, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, width, 3, 1, 1, bias=False); self.bn1 = nn.BatchNorm2d(width)
        c = width
        for s, n in enumerate(blocks):
            out = width << s
            layer = nn.Sequential(*[BasicBlock(c if b == 0 else out, out, 2 if b == 0 and s > 0 else 1) for b in range(n)])
            setattr(self, f"layer{s + 1}", layer); c = out
        self.fc = nn.Linear(c, classes)
        for m in self.modules():   # torchvision's init
            if isinstance(m, nn.Conv2d): nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d): nn.init.constant_(m.weight, 1); nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for s in range(1, 5): x = getattr(self, f"layer{s}")(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


BLOCKS = {"Resnet18": [2, 2, 2, 2], "Resnet34": [3, 4, 6, 3]}
