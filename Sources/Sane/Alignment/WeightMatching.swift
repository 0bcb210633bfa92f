import SaneAnalysis

/// Weight matching (Ainsworth et al., "Git Re-Basin", ICLR 2023, Algorithm 1; SANE-SPEC §3):
/// find the permutation π of a model's hidden units that makes its weights most similar to a
/// reference model's,
///
///     max_π  Σ_tensors ⟨W_ref, π(W_model)⟩.
///
/// Coordinate ascent over the groups: for group g, with every other group's permutation held
/// fixed, the objective is linear in P_g, so
///
///     profit[i, j] = Σ_{axes of g} ⟨slice i of W_ref, slice j of W_model (others permuted)⟩
///
/// and the best P_g is a linear assignment (`LinearAssignment.maximize`). Groups are visited in
/// a random order each round; it stops after a round in which no group improved, or after
/// `maximumRounds`. Inner products are accumulated in Float64.
public enum WeightMatching {
    /// The permutation aligning `model` to `reference`: `spec.apply(result, to: model)` is the
    /// aligned model. Starts from the identity.
    public static func align(_ model: StateDict, to reference: StateDict, spec: PermutationSpec,
                             maximumRounds: Int = 100, using generator: inout SeededGenerator) throws -> Permutation {
        var permutation = spec.identity
        for _ in 0..<maximumRounds {
            var improved = false
            for g in generator.permutation(spec.groups.count) {
                let n = spec.groups[g].size
                let profit = try profitMatrix(group: g, model: model, reference: reference, spec: spec, permutation: permutation)
                let candidate = LinearAssignment.maximize(profit, size: n)
                let current = (0..<n).reduce(0.0) { $0 + profit[$1 * n + permutation.groups[g][$1]] }
                let proposed = (0..<n).reduce(0.0) { $0 + profit[$1 * n + candidate[$1]] }
                if proposed > current + 1e-12 * max(1, abs(current)) {
                    permutation.groups[g] = candidate
                    improved = true
                }
            }
            if !improved { break }
        }
        return permutation
    }

    /// Aligns a model saved at several epochs: the permutation is computed on the **last**
    /// epoch and applied to every epoch (SANE-SPEC §3), so the trajectory stays one model.
    /// - Returns: the permutation and the aligned epochs, in the order given.
    public static func alignTrajectory(_ epochs: [StateDict], to reference: StateDict, spec: PermutationSpec,
                                       maximumRounds: Int = 100, using generator: inout SeededGenerator)
    throws -> (permutation: Permutation, aligned: [StateDict]) {
        guard let last = epochs.last else { return (spec.identity, []) }
        let permutation = try align(last, to: reference, spec: spec, maximumRounds: maximumRounds, using: &generator)
        return (permutation, try epochs.map { try spec.apply(permutation, to: $0) })
    }

    /// profit[i·n + j] = Σ over the axes of group g of ⟨reference slice i, model slice j⟩, the
    /// model's tensors permuted by `permutation` on every other (group, axis) that touches them.
    ///
    /// As one product, profit = R·Mᵀ: R [n, K] holds in row i every slice of unit i — each axis's
    /// tensor viewed as (outer, n, span), its slices (o, i, ·) at columns offset + o·span + s, the
    /// axes side by side (K = Σ count / n) — and M the same of the model. A float64 GEMM
    /// (`Matrix64.timesTransposed`, both cores): the products of two floats are exact in float64,
    /// so only the order of the sums differs from a loop over the slices. ResNet-18 at width 64
    /// (groups of 512 units, K up to 14,000), two random inits: 38.3 s CPU per alignment with the
    /// loops, 3.7 s with the GEMM, same permutation (`sane bench align --width 64`, RESULTS.md).
    static func profitMatrix(group g: Int, model: StateDict, reference: StateDict,
                             spec: PermutationSpec, permutation: Permutation) throws -> [Double] {
        let n = spec.groups[g].size
        var tensors: [(reference: Tensor, model: Tensor, axis: PermutationSpec.Axis)] = []
        for axis in spec.groups[g].axes {
            guard let referenceTensor = reference[axis.key], var modelTensor = model[axis.key],
                  referenceTensor.shape == modelTensor.shape else {
                throw SaneError("'\(axis.key)' is missing or differs in shape between the model and the reference",
                                hint: "align models of one architecture")
            }
            for (h, other) in spec.groups.enumerated() {
                for otherAxis in other.axes where otherAxis.key == axis.key && !(h == g && otherAxis == axis) {
                    modelTensor = try PermutationSpec.permute(modelTensor, along: otherAxis, groupSize: other.size,
                                                              by: permutation.groups[h])
                }
            }
            guard axis.axis < referenceTensor.rank, referenceTensor.shape[axis.axis] == n * axis.blockSize else {
                throw SaneError("'\(axis.key)' of shape \(referenceTensor.shape) has no axis \(axis.axis) of \(n)·\(axis.blockSize) entries",
                                hint: "align checkpoints of the architecture the spec was made for")
            }
            tensors.append((referenceTensor, modelTensor, axis))
        }
        let columns = tensors.reduce(0) { $0 + $1.reference.count / n }
        var r = Matrix64(rows: n, columns: columns), m = Matrix64(rows: n, columns: columns)    // (n, K)
        var offset = 0
        for t in tensors {
            let outer = t.reference.shape[..<t.axis.axis].reduce(1, *)
            let span = t.reference.count / (outer * n)
            for (tensor, isReference) in [(t.reference, true), (t.model, false)] {
                tensor.withHostBuffer { source in                      // (outer, n, span)
                    func gather(_ target: inout [Double]) {
                        for o in 0..<outer {
                            for i in 0..<n {
                                let from = (o * n + i) * span, to = i * columns + offset + o * span
                                for s in 0..<span { target[to + s] = Double(source[from + s]) }
                            }
                        }
                    }
                    if isReference { gather(&r.values) } else { gather(&m.values) }
                }
            }
            offset += outer * span
        }
        return r.timesTransposed(m).values
    }
}
