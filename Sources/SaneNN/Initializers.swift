import Foundation
import SaneTensor

/// Weight initializers with PyTorch's formulas (`torch.nn.init`). fan_in = shape[1]·receptive
/// field, fan_out = shape[0]·receptive field, for weights shaped [out, in, k...].
public enum Initializer {
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        precondition(shape.count >= 2, "fan computation needs ≥2-D weights, got \(shape)")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// kaiming_uniform_(a, fan_in, leaky_relu): U(−b, b), b = gain·√(3/fan_in), gain = √(2/(1+a²)).
    /// PyTorch's default Linear/Conv weight init uses a = √5, i.e. b = 1/√fan_in.
    public static func kaimingUniform(_ shape: [Int], a: Float = Float(5).squareRoot(), using g: inout SeededGenerator) -> Tensor {
        let gain = (2 / (1 + a * a)).squareRoot()
        let bound = gain * (3 / Float(fans(shape).fanIn)).squareRoot()
        return Tensor.uniform(shape, low: -bound, high: bound, using: &g)
    }

    /// kaiming_normal_(fan_in, relu): N(0, 2/fan_in).
    public static func kaimingNormal(_ shape: [Int], using g: inout SeededGenerator) -> Tensor {
        Tensor.normal(shape, std: (2 / Float(fans(shape).fanIn)).squareRoot(), using: &g)
    }

    /// xavier_uniform_: U(−b, b), b = gain·√(6/(fan_in+fan_out)).
    public static func xavierUniform(_ shape: [Int], gain: Float = 1, using g: inout SeededGenerator) -> Tensor {
        let f = fans(shape)
        let bound = gain * (6 / Float(f.fanIn + f.fanOut)).squareRoot()
        return Tensor.uniform(shape, low: -bound, high: bound, using: &g)
    }

    /// xavier_normal_: N(0, gain²·2/(fan_in+fan_out)).
    public static func xavierNormal(_ shape: [Int], gain: Float = 1, using g: inout SeededGenerator) -> Tensor {
        let f = fans(shape)
        return Tensor.normal(shape, std: gain * (2 / Float(f.fanIn + f.fanOut)).squareRoot(), using: &g)
    }

    /// PyTorch's default bias init for Linear/Conv: U(−1/√fan_in, 1/√fan_in).
    public static func defaultBias(_ count: Int, fanIn: Int, using g: inout SeededGenerator) -> Tensor {
        let bound = 1 / Float(fanIn).squareRoot()
        return Tensor.uniform([count], low: -bound, high: bound, using: &g)
    }
}
