import SaneTensor

// Convolution-family layers with PyTorch's state-dict names and default initialization.
// Shapes: x [B, C, H, W].

/// 2-D convolution (PyTorch `nn.Conv2d`, square kernel): weight [Co, Ci, k, k], bias [Co].
/// Default init as PyTorch: weight kaiming-uniform(a = √5) = U(±1/√fan_in), bias U(±1/√fan_in),
/// fan_in = Ci·k².
public final class Conv2d: Module, Layer {
    public let weight: Variable
    public let bias: Variable?
    public let stride: Int
    public let padding: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool = true, using g: inout SeededGenerator) {
        let shape = [outChannels, inChannels, kernelSize, kernelSize]
        weight = Variable(Initializer.kaimingUniform(shape, using: &g), requiresGrad: true)
        self.bias = bias ? Variable(Initializer.defaultBias(outChannels, fanIn: Initializer.fans(shape).fanIn, using: &g), requiresGrad: true) : nil
        self.stride = stride
        self.padding = padding
        super.init()
        register("weight", parameter: weight)
        if let b = self.bias { register("bias", parameter: b) }
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        Variable.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}

/// Max pooling (PyTorch `nn.MaxPool2d(kernel, stride)`, no padding); no state.
public final class MaxPool2d: Module, Layer {
    public let kernelSize: Int
    public let stride: Int
    public init(_ kernelSize: Int, stride: Int? = nil) { self.kernelSize = kernelSize; self.stride = stride ?? kernelSize }
    public func callAsFunction(_ x: Variable) -> Variable { x.maxPool2d(kernelSize: kernelSize, stride: stride) }
}

/// Average pooling (PyTorch `nn.AvgPool2d(kernel, stride)`, no padding); no state.
public final class AvgPool2d: Module, Layer {
    public let kernelSize: Int
    public let stride: Int
    public init(_ kernelSize: Int, stride: Int? = nil) { self.kernelSize = kernelSize; self.stride = stride ?? kernelSize }
    public func callAsFunction(_ x: Variable) -> Variable { x.avgPool2d(kernelSize: kernelSize, stride: stride) }
}

/// Batch normalization over channels (PyTorch `nn.BatchNorm2d`, affine, track_running_stats).
/// State in PyTorch order: weight (1), bias (0), running_mean (0), running_var (1),
/// num_batches_tracked (0, counted up per training call; stored as a Float32 scalar).
/// Training uses batch statistics and updates the running ones with `momentum` (see
/// `Variable.batchNorm2d`); evaluation uses the running statistics.
public final class BatchNorm2d: Module, Layer {
    public let weight: Variable
    public let bias: Variable
    public let runningMean: Variable
    public let runningVariance: Variable
    public let batchesTracked: Variable
    public let momentum: Float
    public let epsilon: Float

    public init(_ channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        weight = Variable(Tensor(shape: [channels], repeating: 1), requiresGrad: true)
        bias = Variable(Tensor(zeros: [channels]), requiresGrad: true)
        runningMean = Variable(Tensor(zeros: [channels]))
        runningVariance = Variable(Tensor(shape: [channels], repeating: 1))
        batchesTracked = Variable(Tensor(0))
        self.momentum = momentum
        self.epsilon = epsilon
        super.init()
        register("weight", parameter: weight)
        register("bias", parameter: bias)
        register("running_mean", buffer: runningMean)
        register("running_var", buffer: runningVariance)
        register("num_batches_tracked", buffer: batchesTracked)
    }

    /// In evaluation the running statistics are only read (through copies), so several threads
    /// may evaluate one network at once.
    public func callAsFunction(_ x: Variable) -> Variable {
        guard isTraining else {
            var mean = runningMean.value, variance = runningVariance.value
            return Variable.batchNorm2d(x, weight: weight, bias: bias, runningMean: &mean, runningVariance: &variance,
                                        training: false, momentum: momentum, epsilon: epsilon)
        }
        batchesTracked.value = Tensor(batchesTracked.value.scalar + 1)
        return Variable.batchNorm2d(x, weight: weight, bias: bias, runningMean: &runningMean.value, runningVariance: &runningVariance.value,
                                    training: true, momentum: momentum, epsilon: epsilon)
    }
}

/// Inverted dropout (PyTorch `nn.Dropout(p)`): in training each element is zeroed with
/// probability p and the rest scaled by 1/(1 − p); identity in evaluation. The masks come from
/// the layer's own seeded generator, so a run is reproducible; set `generator` to reseed.
public final class Dropout: Module, Layer {
    public let probability: Float
    public var generator: SeededGenerator

    public init(_ probability: Float, seed: UInt64 = 0) {
        self.probability = probability
        generator = SeededGenerator(seed: seed)
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        x.dropout(probability: probability, training: isTraining, using: &generator)
    }
}
