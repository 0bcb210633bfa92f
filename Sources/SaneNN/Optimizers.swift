import Foundation
import SaneTensor

// Optimizers with torch.optim's update rules (single-tensor CPU code path), operating on named
// parameters. Hyperparameters are Doubles like Python floats; per-element math is Float32 like
// PyTorch's tensors. Parameters without a gradient are skipped, as PyTorch skips `grad is None`.
// The state (moments, momentum buffers, step count) round-trips through a StateDict, so a run
// can be resumed exactly.

/// A gradient-descent optimizer over a fixed list of named parameters.
public protocol Optimizer: AnyObject {
    /// The learning rate of the next `step()` (a schedule sets it before each step).
    var learningRate: Double { get set }
    /// Updates every parameter that has a gradient.
    func step()
    /// The optimizer state: per-parameter buffers named `<parameter>.<buffer>`, plus `step`.
    func stateDict() -> StateDict
    /// Restores a state written by `stateDict()` for the same parameters.
    func load(_ state: StateDict) throws
}

/// Stochastic gradient descent with momentum and L2 weight decay (torch.optim.SGD):
///
///     d = g + λ·p;  buf = d (first step) or μ·buf + (1 − dampening)·d
///     d = d + μ·buf (Nesterov) or buf;   p ← p − lr·d
///
/// One pass over the flat parameters (`FlatParameters`): one backend `sgdUpdate` call per run of
/// adjacent slots that have a gradient and agree on whether their momentum buffer exists yet.
public final class SGD: Optimizer {
    public let parameters: [(name: String, variable: Variable)]
    public var learningRate: Double
    public var momentum: Double
    public var dampening: Double
    public var weightDecay: Double
    public var nesterov: Bool
    /// The parameters' values and gradients.
    public let flat: FlatParameters
    /// Momentum buffers (the parameters' layout); a slot's buffer starts on its first update.
    private let buffers: FlatBuffer
    private var started: [Bool]

    public init(parameters: [(String, Variable)], learningRate: Double, momentum: Double = 0, dampening: Double = 0,
                weightDecay: Double = 0, nesterov: Bool = false) {
        self.parameters = parameters.map { (name: $0.0, variable: $0.1) }
        self.learningRate = learningRate; self.momentum = momentum; self.dampening = dampening
        self.weightDecay = weightDecay; self.nesterov = nesterov
        flat = FlatParameters.binding(parameters)
        buffers = FlatBuffer(zeros: flat.count)
        started = Array(repeating: false, count: parameters.count)
    }

    public func step() {
        flat.attach()
        let backend = Backends.current
        for run in flat.runs({ flat.hasGradient($0) ? started[$0] : nil }) {
            let c = SGDCoefficients(learningRate: Float(learningRate), weightDecay: Float(weightDecay), momentum: Float(momentum),
                                    oneMinusDampening: Float(1 - dampening), usesMomentum: momentum != 0, nesterov: nesterov,
                                    firstStep: !run.key)
            backend.sgdUpdate(parameters: flat.values.pointer + run.offset, momentumBuffer: buffers.pointer + run.offset,
                              gradient: flat.gradients.pointer + run.offset, count: run.count, coefficients: c)
        }
        if momentum != 0 { for k in started.indices where flat.hasGradient(k) { started[k] = true } }
    }

    public func stateDict() -> StateDict {
        StateDict(flat.slots.indices.filter { started[$0] }.map { (flat.slots[$0].name + ".momentum_buffer", flat.copy(slot: $0, of: buffers)) })
    }

    public func load(_ state: StateDict) throws {
        let present = flat.slots.map { state[$0.name + ".momentum_buffer"] != nil }
        let saved = try flat.checkedEntries(of: state, suffix: ".momentum_buffer", what: "optimizer state") { present[$0] }
        flat.write(saved, into: buffers)
        started = present
    }
}

/// Adam (Kingma & Ba 2015) as torch.optim.Adam, with L2 weight decay added to the gradient:
///
///     g ← g + λ·p;  m ← m + (1 − β1)(g − m);  v ← β2·v + (1 − β2)·g²
///     p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)
public final class Adam: Optimizer {
    public var learningRate: Double
    public var beta1: Double, beta2: Double, epsilon: Double
    public var weightDecay: Double
    private var core: AdamMoments

    public init(parameters: [(String, Variable)], learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
                epsilon: Double = 1e-8, weightDecay: Double = 0) {
        self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
        core = AdamMoments(parameters)
    }

    public func step() {
        core.step(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon) { _ in (l2: weightDecay, decoupled: 0) }
    }
    /// The parameters' values and gradients.
    public var flat: FlatParameters { core.flat }
    public func stateDict() -> StateDict { core.stateDict() }
    public func load(_ state: StateDict) throws { try core.load(state) }
}

/// AdamW (Loshchilov & Hutter 2019) as torch.optim.AdamW, with decoupled weight decay applied
/// only to parameters with ≥ 2 dimensions (matrices and kernels; not biases or norm weights —
/// SANE-SPEC §5, nanoGPT's convention; PyTorch needs two parameter groups for that):
///
///     p ← p·(1 − lr·λ)  (≥2-D only);  then the Adam update without L2 term.
///
/// `beta1`, `beta2`, `epsilon` and `learningRate` may change between steps (a one-cycle
/// schedule cycles β1).
public final class AdamW: Optimizer {
    public var learningRate: Double
    public var beta1: Double, beta2: Double, epsilon: Double
    public var weightDecay: Double
    private var core: AdamMoments

    public init(parameters: [(String, Variable)], learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
                epsilon: Double = 1e-8, weightDecay: Double = 1e-2) {
        self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
        core = AdamMoments(parameters)
    }

    public func step() {
        core.step(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon) { shape in
            (l2: 0, decoupled: shape.count >= 2 ? weightDecay : 0)
        }
    }
    /// The parameters' values and gradients.
    public var flat: FlatParameters { core.flat }
    public func stateDict() -> StateDict { core.stateDict() }
    public func load(_ state: StateDict) throws { try core.load(state) }
}

/// The moment buffers and step count shared by Adam and AdamW (torch's `_single_tensor_adam`),
/// in the parameters' flat layout: one backend `adamUpdate` call per run of adjacent slots with
/// a gradient and the same decay (AdamW: the ≥2-D section and the rest; Adam: one run).
struct AdamMoments {
    let flat: FlatParameters
    /// m and v, in the parameters' layout.
    let exponentialAverage: FlatBuffer, exponentialAverageSquared: FlatBuffer
    /// Number of steps taken (PyTorch keeps one per parameter; they are all equal here).
    var stepCount = 0

    init(_ parameters: [(String, Variable)]) {
        flat = FlatParameters.binding(parameters)
        exponentialAverage = FlatBuffer(zeros: flat.count)
        exponentialAverageSquared = FlatBuffer(zeros: flat.count)
    }

    /// One update; `decay(shape)` gives the L2 coefficient (added to the gradient) and the decoupled
    /// coefficient (p ← p·(1 − lr·λ)) for a parameter of that shape.
    mutating func step(learningRate lr: Double, beta1: Double, beta2: Double, epsilon: Double,
                       decay: ([Int]) -> (l2: Double, decoupled: Double)) {
        stepCount += 1
        let t = Double(stepCount)
        let biasCorrection1 = 1 - Foundation.pow(beta1, t)
        let biasCorrection2Sqrt = (1 - Foundation.pow(beta2, t)).squareRoot()
        let backend = Backends.current
        let flat = flat
        flat.attach()
        struct Decay: Equatable { let l2: Double, decoupled: Double }
        for run in flat.runs({ k -> Decay? in
            guard flat.hasGradient(k) else { return nil }
            let d = decay(flat.slots[k].shape)
            return Decay(l2: d.l2, decoupled: d.decoupled)
        }) {
            let c = AdamCoefficients(decayFactor: run.key.decoupled != 0 ? Float(1 - lr * run.key.decoupled) : 1, l2: Float(run.key.l2),
                                     oneMinusBeta1: Float(1 - beta1), beta2: Float(beta2), oneMinusBeta2: Float(1 - beta2),
                                     stepSize: Float(lr / biasCorrection1), biasCorrection2Sqrt: Float(biasCorrection2Sqrt),
                                     epsilon: Float(epsilon))
            backend.adamUpdate(parameters: flat.values.pointer + run.offset, firstMoment: exponentialAverage.pointer + run.offset,
                               secondMoment: exponentialAverageSquared.pointer + run.offset,
                               gradient: flat.gradients.pointer + run.offset, count: run.count, coefficients: c)
        }
    }

    func stateDict() -> StateDict {
        var s = StateDict()
        for (k, slot) in flat.slots.enumerated() {
            s[slot.name + ".exp_avg"] = flat.copy(slot: k, of: exponentialAverage)
            s[slot.name + ".exp_avg_sq"] = flat.copy(slot: k, of: exponentialAverageSquared)
        }
        // Float32 holds step counts exactly up to 2²⁴ (16.7M steps).
        s["step"] = Tensor(Float(stepCount))
        return s
    }

    mutating func load(_ state: StateDict) throws {
        guard let step = state["step"], step.count == 1 else { throw SaneError("optimizer state has no 'step'") }
        // both checked before either is written
        let m = try flat.checkedEntries(of: state, suffix: ".exp_avg", what: "optimizer state")
        let v = try flat.checkedEntries(of: state, suffix: ".exp_avg_sq", what: "optimizer state")
        flat.write(m, into: exponentialAverage)
        flat.write(v, into: exponentialAverageSquared)
        stepCount = Int(step.scalar)
    }
}
