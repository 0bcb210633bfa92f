import Foundation

/// The one-cycle learning-rate policy (Smith & Topor 2017) exactly as PyTorch's
/// `torch.optim.lr_scheduler.OneCycleLR` with anneal_strategy "cos", three_phase false and
/// cycle_momentum true (applied to Adam's β1), as a pure function of the step.
///
/// Phases over steps t = 0 … total−1, with lr₀ = max_lr/div_factor, lr_min = lr₀/final_div_factor,
/// e₁ = pct_start·total − 1, e₂ = total − 1:
///
///     t ≤ e₁:  lr = cos_anneal(lr₀ → max_lr, t/e₁),         β1 = cos_anneal(max_m → base_m, t/e₁)
///     else:    lr = cos_anneal(max_lr → lr_min, (t−e₁)/(e₂−e₁)), β1 = cos_anneal(base_m → max_m, …)
///     cos_anneal(a → b, f) = b + (a − b)/2 · (cos(π f) + 1)
///
/// Step t is the value the optimizer uses for its (t+1)-th update (PyTorch applies step 0 at
/// construction and advances after each `optimizer.step()`).
public struct OneCycleSchedule: Sendable, Equatable {
    public var maxLearningRate: Double
    public var totalSteps: Int
    public var pctStart: Double = 0.3
    public var divFactor: Double = 25
    public var finalDivFactor: Double = 1e4
    public var baseMomentum: Double = 0.85
    public var maxMomentum: Double = 0.95

    public init(maxLearningRate: Double, totalSteps: Int, pctStart: Double = 0.3, divFactor: Double = 25,
                finalDivFactor: Double = 1e4, baseMomentum: Double = 0.85, maxMomentum: Double = 0.95) {
        precondition(totalSteps > 0, "OneCycleSchedule needs totalSteps > 0")
        self.maxLearningRate = maxLearningRate; self.totalSteps = totalSteps; self.pctStart = pctStart
        self.divFactor = divFactor; self.finalDivFactor = finalDivFactor
        self.baseMomentum = baseMomentum; self.maxMomentum = maxMomentum
    }

    /// (learning rate, β1) for step `step` (0-based).
    public func callAsFunction(_ step: Int) -> (learningRate: Double, beta1: Double) {
        precondition(step >= 0 && step < totalSteps, "OneCycleSchedule: step \(step) outside 0..<\(totalSteps)")
        let initial = maxLearningRate / divFactor, minimum = initial / finalDivFactor
        let phases: [(end: Double, lr: (Double, Double), momentum: (Double, Double))] = [
            (pctStart * Double(totalSteps) - 1, (initial, maxLearningRate), (maxMomentum, baseMomentum)),
            (Double(totalSteps - 1), (maxLearningRate, minimum), (baseMomentum, maxMomentum)),
        ]
        func anneal(_ a: Double, _ b: Double, _ f: Double) -> Double { b + (a - b) / 2 * (cos(Double.pi * f) + 1) }
        var start = 0.0
        let t = Double(step)
        for (i, phase) in phases.enumerated() {
            if t <= phase.end || i == phases.count - 1 {
                let f = (t - start) / (phase.end - start)
                return (anneal(phase.lr.0, phase.lr.1, f), anneal(phase.momentum.0, phase.momentum.1, f))
            }
            start = phase.end
        }
        fatalError("unreachable")
    }
}
