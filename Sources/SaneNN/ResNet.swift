import SaneTensor

// Residual networks as torchvision builds them (`torchvision.models.resnet`, BasicBlock), with the
// CIFAR stem of the published ResNet zoos (SANE-SPEC §9): conv1 3×3 stride 1 padding 1, no
// max-pool. Module names and registration order are torchvision's, so `stateDict()` keys are
// `conv1.weight`, `bn1.running_mean`, `layer2.0.downsample.0.weight`, `fc.bias`, …
// Shapes: x [B, C, H, W].

/// torchvision's `BasicBlock`: y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), with
/// shortcut = identity, or `downsample` = Conv1×1(stride) + BN when the stride is not 1 or the
/// channel count changes (He et al., 2016, option B).
public final class BasicBlock: Module, Layer {
    public let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d
    /// `downsample.0` (Conv2d 1×1) and `downsample.1` (BatchNorm2d), or nil for the identity.
    public let downsample: Sequential?

    public init(_ inChannels: Int, _ channels: Int, stride: Int, using g: inout SeededGenerator) {
        conv1 = Conv2d(inChannels, channels, kernelSize: 3, stride: stride, padding: 1, bias: false, using: &g)
        bn1 = BatchNorm2d(channels)
        conv2 = Conv2d(channels, channels, kernelSize: 3, stride: 1, padding: 1, bias: false, using: &g)
        bn2 = BatchNorm2d(channels)
        downsample = stride != 1 || inChannels != channels
            ? Sequential([Conv2d(inChannels, channels, kernelSize: 1, stride: stride, bias: false, using: &g), BatchNorm2d(channels)])
            : nil
        super.init()
        register("conv1", module: conv1); register("bn1", module: bn1)
        register("conv2", module: conv2); register("bn2", module: bn2)
        if let downsample { register("downsample", module: downsample) }
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        let out = bn2(conv2(bn1(conv1(x)).relu()))
        return (out + (downsample?(x) ?? x)).relu()
    }
}

/// torchvision's `ResNet` with BasicBlocks and the CIFAR stem:
/// conv1 3×3/1 → bn1 → relu → layer1 (w) → layer2 (2w, /2) → layer3 (4w, /2) → layer4 (8w, /2)
/// → global average pool → fc (8w → classes). `blocks` [2, 2, 2, 2] is ResNet-18, [3, 4, 6, 3]
/// ResNet-34; `width` w is 64 for the real models.
///
/// Initialization as torchvision: every conv weight ~ N(0, 2/fan_out) (kaiming_normal_,
/// mode fan_out, relu), BatchNorm weight 1 and bias 0, fc PyTorch's Linear default.
public final class ResNet: Module, Layer {
    public let conv1: Conv2d, bn1: BatchNorm2d
    public let stages: [Sequential]
    public let fc: Linear

    public init(blocks: [Int], width: Int, channelsIn: Int, classes: Int, using g: inout SeededGenerator) {
        precondition(blocks.count == 4 && blocks.allSatisfy { $0 >= 1 } && width >= 1, "ResNet needs 4 stages of ≥ 1 block and width ≥ 1")
        conv1 = Conv2d(channelsIn, width, kernelSize: 3, stride: 1, padding: 1, bias: false, using: &g)
        bn1 = BatchNorm2d(width)
        var stages: [Sequential] = [], channels = width
        for (s, count) in blocks.enumerated() {
            let out = width << s
            var layer: [any Layer] = []
            for b in 0..<count {
                layer.append(BasicBlock(b == 0 ? channels : out, out, stride: b == 0 && s > 0 ? 2 : 1, using: &g))
            }
            stages.append(Sequential(layer))
            channels = out
        }
        self.stages = stages
        fc = Linear(channels, classes, using: &g)
        super.init()
        register("conv1", module: conv1); register("bn1", module: bn1)
        for (s, stage) in stages.enumerated() { register("layer\(s + 1)", module: stage) }
        register("fc", module: fc)
        for (_, w) in namedParameters() where w.shape.count == 4 {
            w.value = Tensor.normal(w.shape, std: (2 / Float(Initializer.fans(w.shape).fanOut)).squareRoot(), using: &g)
        }
    }

    /// x [B, C, H, W] → logits [B, classes].
    public func callAsFunction(_ x: Variable) -> Variable {
        let h = stages.reduce(bn1(conv1(x)).relu()) { $1($0) }
        return fc(h.globalAveragePool2d())
    }
}
