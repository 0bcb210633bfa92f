// The backend seam: every forward/backward kernel pair the Variable ops use, behind one protocol.
//
// An op (Sources/SaneTensor/Ops) checks shapes, allocates its output tensors, calls its backend's
// forward kernel and records a backward closure that calls the matching backward kernel; it does
// no arithmetic of its own. `CPUBackend` runs the tuned kernels of Kernels/ (SIMD, BLAS, threads);
// `ReferenceBackend` runs plain scalar loops and exists to check it (BackendParityTests).
// Documentation/AddingABackend.md says how to add another one and what the seam does not cover yet.
//
// Conventions for every method:
// - Buffers are pointers into tensor storage on the backend's `device` (host memory for `.cpu`);
//   Float32, dense, row-major. Shapes are given by the scalar arguments (legend in Tensor.swift).
// - Backward kernels ACCUMULATE (+=) into their gradient buffers, like the ops (llm.c style); a
//   gradient buffer passed as nil is not wanted.
// - Index buffers (arg-max, labels, gathered rows) are Int32.
// - A backend must be stateless or thread-safe (`Sendable`): `Parallel.jobs` trains one model per
//   core with the same backend.

/// Where a tensor's elements live.
public enum Device: Hashable, Sendable, CustomStringConvertible {
    /// Host memory, readable through `Tensor.readPointer` and friends.
    case cpu

    public var description: String {
        switch self { case .cpu: return "cpu" }
    }
}

/// Elementwise functions y = f(x) with a derivative (`Backend.pointwiseForward/Backward`).
public enum PointwiseFunction: Equatable, Sendable {
    /// eˣ; f' = y
    case exp
    /// ln x; f' = 1/x
    case log
    /// √x; f' = 1/(2y)
    case sqrt
    /// x²; f' = 2x
    case square
    /// tanh x; f' = 1 − y²
    case tanh
    /// σ(x) = 1/(1 + e⁻ˣ); f' = y(1 − y)
    case sigmoid
    /// max(x, 0); f' = [x > 0]
    case relu
    /// x for x > 0, slope·x otherwise; f' = 1 or slope
    case leakyRelu(slope: Float)
    /// x·σ(x); f' = σ(x)(1 + x(1 − σ(x)))
    case silu
    /// ½x(1 + erf(x/√2)) (exact erf form); f' = Φ(x) + x·φ(x)
    case gelu
}

/// Binary elementwise operations with NumPy broadcasting (`Backend.broadcastBinary`).
public enum BinaryOperation: Sendable {
    /// a + b
    case add
    /// a − b
    case subtract
    /// a · b
    case multiply
    /// a / b
    case divide
    /// −a / b (the gradient of a quotient's divisor: −g·y/b)
    case negatedDivide
}

/// The forward/backward kernel pairs behind the `Variable` ops. All buffers live on `device`.
public protocol Backend: Sendable {
    /// Short name for messages and benchmark labels ("cpu", "reference").
    var name: String { get }
    /// Where the buffers passed to this backend live.
    var device: Device { get }

    // MARK: Matrix products

    /// C[m×n] = α·op(A)·op(B) + β·C, row-major, op(X) = X or Xᵀ, lda/ldb/ldc row strides as
    /// stored. Its own adjoint: matmul, linear and convolution backward passes are GEMMs with β = 1.
    func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
              a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
              beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int)

    // MARK: Elementwise

    /// y = f(x). x, y (n).
    func pointwiseForward(_ f: PointwiseFunction, y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int)
    /// dx += dy·f'(x), with y = f(x) at hand. dx, dy, x, y (n).
    func pointwiseBackward(_ f: PointwiseFunction, dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
                           x: UnsafePointer<Float>, y: UnsafePointer<Float>, count n: Int)
    /// y = scale·x + shift. x, y (n).
    func scaleShift(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int, scale: Float, shift: Float)
    /// y += scale·x (axpy); the backward of `scaleShift` and of every identity-like op. x, y (n).
    func accumulate(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count n: Int, scale: Float)
    /// y += a ⊙ b (the backward of a fixed mask). a, b, y (n).
    func accumulateProduct(_ y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int)
    /// out = a ∘ b with broadcasting: out [plan.outShape], a and b read through the plan's strides.
    func broadcastBinary(_ op: BinaryOperation, out: UnsafeMutablePointer<Float>,
                         a: UnsafePointer<Float>, b: UnsafePointer<Float>, plan: BroadcastPlan)
    /// The adjoint of broadcasting: out [shape of b in `plan`] += Σ over broadcast axes of
    /// x [plan.outShape] (`plan` made as BroadcastPlan(x shape, out shape)).
    func sumToShape(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, plan: BroadcastPlan)

    // MARK: Reductions (a tensor viewed as [outer, n, inner] around the axis)

    /// y[o, i] = Σ_j x[o, j, i]. x (outer, n, inner), y (outer, inner).
    func sumAxis(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, outer: Int, n: Int, inner: Int)
    /// dx[o, j, i] += dy[o, i].
    func sumAxisBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, outer: Int, n: Int, inner: Int)
    /// y[0] = Σ x (accumulated in Float64). x (n), y (1).
    func sumAll(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int)
    /// dx[i] += dy[0]. dx (n), dy (1).
    func sumAllBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, count n: Int)
    /// y[o, i] = max_j x[o, j, i], argmax[o, i] = the first j attaining it. n ≥ 1.
    func maxAxis(y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>, x: UnsafePointer<Float>, outer: Int, n: Int, inner: Int)
    /// dx[o, argmax[o, i], i] += dy[o, i].
    func maxAxisBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, argmax: UnsafePointer<Int32>, outer: Int, n: Int, inner: Int)

    // MARK: Data movement

    /// For o in 0..<blocks: dst[o·dstStride ..< +length] = (or += with `accumulate`)
    /// src[o·srcStride ..< +length]. Slicing, concatenation and their backward passes.
    func copyBlocks(dst: UnsafeMutablePointer<Float>, dstStride: Int, src: UnsafePointer<Float>, srcStride: Int,
                    blocks: Int, length: Int, accumulate: Bool)
    /// y = x with axes permuted: y axis i is x axis axes[i]. x [shape], y [axes.map { shape[$0] }].
    /// Its backward is the inverse permutation.
    func permute(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, shape: [Int], axes: [Int])
    /// y[i, :] = table[rows[i], :]. table (V, C), y (count, C); rows are in 0..<V.
    func gatherRows(y: UnsafeMutablePointer<Float>, table: UnsafePointer<Float>, rows: UnsafePointer<Int32>, count: Int, width c: Int)
    /// dtable[rows[i], :] += dy[i, :].
    func gatherRowsBackward(dtable: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, rows: UnsafePointer<Int32>, count: Int, width c: Int)

    // MARK: Softmax and losses (rows of the last axis)

    /// y = softmax(x) per row (a row of −∞ gives zeros). x, y (rows, n); in place allowed.
    func softmaxForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, rows: Int, n: Int)
    /// dx += y ⊙ (dy − rowsum(dy ⊙ y)).
    func softmaxBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, y: UnsafePointer<Float>, rows: Int, n: Int)
    /// y = x − max x − log Σ exp(x − max x) per row.
    func logSoftmaxForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, rows: Int, n: Int)
    /// dx += dy − exp(y)·rowsum(dy).
    func logSoftmaxBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, y: UnsafePointer<Float>, rows: Int, n: Int)
    /// Mean cross-entropy of logits (N, K) against labels (N): loss[0] = −(1/N) Σ log softmax(x_n)[y_n];
    /// probs (N, K) = softmax(x) for the backward pass.
    func crossEntropyForward(loss: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>,
                             labels: UnsafePointer<Int32>, rows n: Int, classes k: Int)
    /// dx += dloss[0]/N · (probs − onehot(labels)).
    func crossEntropyBackward(dlogits: UnsafeMutablePointer<Float>, dloss: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                              labels: UnsafePointer<Int32>, rows n: Int, classes k: Int)
    /// Masked MSE: loss[0] = Σ m(ŷ − y)² / max(Σ m, 1) and denominator[0] = max(Σ m, 1)
    /// (sums in Float64). prediction, target, mask (n).
    func maskedMSEForward(loss: UnsafeMutablePointer<Float>, denominator: UnsafeMutablePointer<Float>,
                          prediction: UnsafePointer<Float>, target: UnsafePointer<Float>, mask: UnsafePointer<Float>, count n: Int)
    /// dŷ += 2·dloss[0]·m(ŷ − y)/denominator[0].
    func maskedMSEBackward(dprediction: UnsafeMutablePointer<Float>, dloss: UnsafePointer<Float>, denominator: UnsafePointer<Float>,
                           prediction: UnsafePointer<Float>, target: UnsafePointer<Float>, mask: UnsafePointer<Float>, count n: Int)

    // MARK: Transformer kernels

    /// Layer norm over rows: y = (x − μ)·rstd·w (+ b); fills mean, rstd (n) for the backward.
    /// x, y (n, c); weight, bias (c).
    func layerNormForward(y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                          x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                          rows n: Int, width c: Int, epsilon: Float)
    /// dx += rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dx̂ = dy·w; dw += Σ dy·x̂; db += Σ dy.
    func layerNormBackward(dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                           dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                           mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows n: Int, width c: Int)
    /// Non-causal multi-head self-attention (SANE-SPEC §4) over fused projections:
    /// S = Q·Kᵀ/√D (masked keys → −∞), P = softmax(S), O = P·V.
    /// qkv (B, T, 3C), out (B, T, C), probs (B, H, T, T) kept for the backward, keyMask (B, T) 1 = attend.
    func attentionForward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
                          keyMask: UnsafePointer<Float>?, batch b: Int, tokens t: Int, width c: Int, heads: Int)
    /// dqkv += the gradient of `attentionForward` for dout (B, T, C).
    func attentionBackward(dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
                           probs: UnsafePointer<Float>, batch b: Int, tokens t: Int, width c: Int, heads: Int)

    // MARK: Convolution family (NCHW)

    /// y[b, o, oy, ox] = bias[o] + Σ w[o, c, i, j]·x[b, c, oy·s + i − pad, ox·s + j − pad].
    /// x [B, Ci, H, W], weight [Co, Ci, kh, kw], y [B, Co, OH, OW]. Returns a workspace the
    /// backward pass receives back (the CPU backend keeps its im2col matrix there), or nil.
    func conv2dForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                       bias: UnsafePointer<Float>?, geometry: ConvolutionGeometry, outChannels co: Int) -> Tensor?
    /// dx, dweight, dbias += the gradients of `conv2dForward` for dy [B, Co, OH, OW].
    func conv2dBackward(dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, workspace: Tensor?,
                        geometry: ConvolutionGeometry, outChannels co: Int)
    /// Max pooling over `planes` planes (window `geometry`, no padding): y = window max,
    /// argmax = flat in-plane index of the first maximum (NaN wins).
    func maxPoolForward(y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>, x: UnsafePointer<Float>,
                        planes: Int, geometry: ConvolutionGeometry)
    /// dx[p, argmax[p, o]] += dy[p, o].
    func maxPoolBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, argmax: UnsafePointer<Int32>,
                         planes: Int, geometry: ConvolutionGeometry)
    /// y = window mean.
    func avgPoolForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, planes: Int, geometry: ConvolutionGeometry)
    /// Every window element += dy/(kh·kw).
    func avgPoolBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, planes: Int, geometry: ConvolutionGeometry)
    /// y[p] = mean of plane p. x (planes, s), y (planes).
    func globalAveragePoolForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, planes: Int, planeSize s: Int)
    /// dx[p, :] += dy[p]/s.
    func globalAveragePoolBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, planes: Int, planeSize s: Int)
    /// Batch-norm statistics over x [B, C, S]: training: mean, rstd = 1/√(σ² + ε) of the batch
    /// (biased σ², Float64 sums) and running ← (1 − momentum)·running + momentum·stat (unbiased
    /// variance); evaluation: mean, rstd from the running statistics, which stay unchanged.
    func batchNormStatistics(mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                             runningMean: UnsafeMutablePointer<Float>, runningVariance: UnsafeMutablePointer<Float>,
                             x: UnsafePointer<Float>, batch b: Int, channels c: Int, spatial s: Int,
                             training: Bool, momentum: Float, epsilon: Float)
    /// x̂ = (x − μ)·rstd, y = γ·x̂ + β (γ = 1, β = 0 when nil). x, xhat, y [B, C, S].
    func batchNormForward(y: UnsafeMutablePointer<Float>, xhat: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                          mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                          batch b: Int, channels c: Int, spatial s: Int)
    /// dγ += Σ g·x̂, dβ += Σ g; dx += γ·rstd·(g − mean(g) − x̂·mean(g·x̂)) in training, γ·rstd·g in evaluation.
    func batchNormBackward(dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                           dy: UnsafePointer<Float>, xhat: UnsafePointer<Float>, rstd: UnsafePointer<Float>, weight: UnsafePointer<Float>?,
                           batch b: Int, channels c: Int, spatial s: Int, training: Bool)

    // MARK: Optimizer

    /// One Adam/AdamW update in place (torch's `_single_tensor_adam` arithmetic, see
    /// `adamUpdate`). p, m, v, g (n).
    func adamUpdate(parameters p: UnsafeMutablePointer<Float>, firstMoment m: UnsafeMutablePointer<Float>,
                    secondMoment v: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, count n: Int,
                    coefficients: AdamCoefficients)
    /// One SGD (momentum) update in place (torch's `_single_tensor_sgd` arithmetic, see
    /// `sgdUpdate`). p, momentum buffer b, g (n).
    func sgdUpdate(parameters p: UnsafeMutablePointer<Float>, momentumBuffer b: UnsafeMutablePointer<Float>,
                   gradient g: UnsafePointer<Float>, count n: Int, coefficients: SGDCoefficients)
}

/// The backend ops run on, bound per task/thread with `Backends.using(_:_:)`.
///
/// A task-local value, not a process-wide mutable static: a binding holds for the duration of the
/// closure and the tasks it starts, two threads can run different backends at once, and there is
/// no global to race on. Threads without a binding (including Dispatch workers) see the
/// default, `CPUBackend`; parallel regions (`Parallel.forEach`, `Parallel.jobs`) carry the
/// caller's binding into their workers.
/// Each op reads it once, when its forward runs, and its backward closure keeps that backend,
/// so `backward()` runs on the backend that computed the forward pass wherever it is called.
public enum Backends {
    @TaskLocal public static var current: any Backend = CPUBackend()

    /// Runs `body` with `backend` as the backend of every op it calls.
    public static func using<R>(_ backend: any Backend, _ body: () throws -> R) rethrows -> R {
        try $current.withValue(backend) { try body() }
    }
}
