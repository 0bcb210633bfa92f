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

/// The state entry `name`, checked against the parameter's shape.
private func restore(_ name: String, from state: StateDict, shape: [Int]) throws -> Tensor {
    guard let t = state[name] else { throw SaneError("optimizer state has no entry '\(name)'", hint: "was it saved for another model?") }
    guard t.shape == shape else { throw SaneError("optimizer state '\(name)' has shape \(t.shape), expected \(shape)") }
    return t
}

/// Stochastic gradient descent with momentum and L2 weight decay (torch.optim.SGD):
///
///     d = g + λ·p;  buf = d (first step) or μ·buf + (1 − dampening)·d
///     d = d + μ·buf (Nesterov) or buf;   p ← p − lr·d
public final class SGD: Optimizer {
    public let parameters: [(name: String, variable: Variable)]
    public var learningRate: Double
    public var momentum: Double
    public var dampening: Double
    public var weightDecay: Double
    public var nesterov: Bool
    /// Momentum buffers, created on a parameter's first update.
    private var buffers: [Tensor?]

    public init(parameters: [(String, Variable)], learningRate: Double, momentum: Double = 0, dampening: Double = 0,
                weightDecay: Double = 0, nesterov: Bool = false) {
        self.parameters = parameters.map { (name: $0.0, variable: $0.1) }
        self.learningRate = learningRate; self.momentum = momentum; self.dampening = dampening
        self.weightDecay = weightDecay; self.nesterov = nesterov
        buffers = Array(repeating: nil, count: parameters.count)
        for p in parameters { p.1.reserveGradient() }
    }

    public func step() {
        let lr = Float(learningRate), mu = Float(momentum), damp = Float(1 - dampening), wd = Float(weightDecay)
        for (i, p) in parameters.enumerated() {
            guard let grad = p.variable.grad else { continue }
            let n = grad.count, pg = grad.readPointer, pp = p.variable.value.writePointer()
            var d = Tensor(shape: grad.shape) { d in for j in 0..<n { d[j] = wd == 0 ? pg[j] : pg[j] + wd * pp[j] } }
            if momentum != 0 {
                if var buf = buffers[i] {
                    let pb = buf.writePointer(), pd = d.readPointer
                    for j in 0..<n { pb[j] = mu * pb[j] + damp * pd[j] }
                    buffers[i] = buf
                } else {
                    buffers[i] = d
                }
                let pb = buffers[i]!.readPointer
                if nesterov { let pd = d.writePointer(); for j in 0..<n { pd[j] += mu * pb[j] } } else { d = buffers[i]! }
            }
            let pd = d.readPointer
            for j in 0..<n { pp[j] -= lr * pd[j] }
        }
    }

    public func stateDict() -> StateDict {
        StateDict(zip(parameters, buffers).compactMap { p, b in b.map { (p.name + ".momentum_buffer", $0) } })
    }

    public func load(_ state: StateDict) throws {
        buffers = try parameters.map { p in
            state[p.name + ".momentum_buffer"] == nil ? nil : try restore(p.name + ".momentum_buffer", from: state, shape: p.variable.shape)
        }
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
        core.step(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon) { p in
            (l2: 0, decoupled: p.shape.count >= 2 ? weightDecay : 0)
        }
    }
    public func stateDict() -> StateDict { core.stateDict() }
    public func load(_ state: StateDict) throws { try core.load(state) }
}

/// The moment buffers and step count shared by Adam and AdamW (torch's `_single_tensor_adam`).
struct AdamMoments {
    let parameters: [(name: String, variable: Variable)]
    /// m, v per parameter.
    var exponentialAverage: [Tensor], exponentialAverageSquared: [Tensor]
    /// Number of steps taken (PyTorch keeps one per parameter; they are all equal here).
    var stepCount = 0

    init(_ parameters: [(String, Variable)]) {
        self.parameters = parameters.map { (name: $0.0, variable: $0.1) }
        exponentialAverage = parameters.map { Tensor(zeros: $0.1.shape) }
        exponentialAverageSquared = parameters.map { Tensor(zeros: $0.1.shape) }
        for p in parameters { p.1.reserveGradient() }
    }

    /// One update; `decay(p)` gives the L2 coefficient (added to the gradient) and the decoupled
    /// coefficient (p ← p·(1 − lr·λ)) for parameter p.
    mutating func step(learningRate lr: Double, beta1: Double, beta2: Double, epsilon: Double,
                       decay: (Variable) -> (l2: Double, decoupled: Double)) {
        stepCount += 1
        let t = Double(stepCount)
        let biasCorrection1 = 1 - Foundation.pow(beta1, t)
        let biasCorrection2Sqrt = (1 - Foundation.pow(beta2, t)).squareRoot()
        let backend = Backends.current
        for (i, p) in parameters.enumerated() {
            guard let grad = p.variable.grad else { continue }
            let (l2, decoupled) = decay(p.variable)
            let c = AdamCoefficients(decayFactor: decoupled != 0 ? Float(1 - lr * decoupled) : 1, l2: Float(l2),
                                     oneMinusBeta1: Float(1 - beta1), beta2: Float(beta2), oneMinusBeta2: Float(1 - beta2),
                                     stepSize: Float(lr / biasCorrection1), biasCorrection2Sqrt: Float(biasCorrection2Sqrt),
                                     epsilon: Float(epsilon))
            backend.adamUpdate(parameters: p.variable.value.writePointer(), firstMoment: exponentialAverage[i].writePointer(),
                               secondMoment: exponentialAverageSquared[i].writePointer(), gradient: grad.readPointer,
                               count: grad.count, coefficients: c)
        }
    }

    func stateDict() -> StateDict {
        var s = StateDict()
        for (i, p) in parameters.enumerated() {
            s[p.name + ".exp_avg"] = exponentialAverage[i]
            s[p.name + ".exp_avg_sq"] = exponentialAverageSquared[i]
        }
        // Float32 holds step counts exactly up to 2²⁴ (16.7M steps).
        s["step"] = Tensor(Float(stepCount))
        return s
    }

    mutating func load(_ state: StateDict) throws {
        guard let step = state["step"], step.count == 1 else { throw SaneError("optimizer state has no 'step'") }
        exponentialAverage = try parameters.map { try restore($0.name + ".exp_avg", from: state, shape: $0.variable.shape) }
        exponentialAverageSquared = try parameters.map { try restore($0.name + ".exp_avg_sq", from: state, shape: $0.variable.shape) }
        stepCount = Int(step.scalar)
    }
}

