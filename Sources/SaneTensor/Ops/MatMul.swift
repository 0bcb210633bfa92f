// Matrix products through BLAS, with backward passes that accumulate with beta = 1.

extension Variable {
    /// Batched matrix product `op(a) · op(b)`.
    ///
    /// a: [..., M, K] (or [..., K, M] with `transposeA`), b: [..., K, N] (or [..., N, K] with
    /// `transposeB`). Batch dims of `a` and `b` must be equal, or `b` is 2-D and shared by every
    /// batch. Result: [..., M, N].
    ///
    /// Backward: dA = dC · op(B)ᵀ, dB = op(A)ᵀ · dC (transposes arranged per case).
    public static func matmul(_ a: Variable, _ b: Variable, transposeA: Bool = false, transposeB: Bool = false) -> Variable {
        let ar = a.shape.count, br = b.shape.count
        precondition(ar >= 2 && br >= 2, "matmul needs matrices, got \(a.shape) and \(b.shape)")
        let (am, ak) = transposeA ? (a.shape[ar - 1], a.shape[ar - 2]) : (a.shape[ar - 2], a.shape[ar - 1])
        let (bk, bn) = transposeB ? (b.shape[br - 1], b.shape[br - 2]) : (b.shape[br - 2], b.shape[br - 1])
        precondition(ak == bk, "matmul: inner dimensions differ, \(a.shape) × \(b.shape) (transposeA \(transposeA), transposeB \(transposeB))")
        let batchShape = Array(a.shape.dropLast(2))
        let sharedB = br == 2
        precondition(sharedB || Array(b.shape.dropLast(2)) == batchShape, "matmul batch dims differ: \(a.shape) vs \(b.shape)")
        let batch = Tensor.elementCount(batchShape)
        let (m, n, k) = (am, bn, ak)
        let lda = a.shape[ar - 1], ldb = b.shape[br - 1]
        let aStride = m * k, bStride = sharedB ? 0 : k * n
        let backend = Backends.current
        let y = Tensor(shape: batchShape + [m, n]) { c in
            let pa = a.value.readPointer, pb = b.value.readPointer
            if sharedB && !transposeA {
                // fold the batch into M: one large GEMM
                backend.gemm(transposeA: false, transposeB: transposeB, m: batch * m, n: n, k: k,
                      alpha: 1, a: pa, lda: lda, b: pb, ldb: ldb, beta: 0, c: c, ldc: n)
            } else {
                for i in 0..<batch {
                    backend.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                          alpha: 1, a: pa + i * aStride, lda: lda, b: pb + i * bStride, ldb: ldb, beta: 0, c: c + i * m * n, ldc: n)
                }
            }
        }
        return Variable(y, parents: [a, b]) { g in
            let pg = g.readPointer, pa = a.value.readPointer, pb = b.value.readPointer
            if a.requiresGrad {
                let da = a.gradientPointer()
                // dA (as stored): !tA: dC·op(B)ᵀ [m,k] ; tA: op(B)·dCᵀ [k,m]
                if sharedB && !transposeA {
                    backend.gemm(transposeA: false, transposeB: !transposeB, m: batch * m, n: k, k: n,
                          alpha: 1, a: pg, lda: n, b: pb, ldb: ldb, beta: 1, c: da, ldc: lda)
                } else {
                    for i in 0..<batch {
                        if transposeA {
                            backend.gemm(transposeA: transposeB, transposeB: true, m: k, n: m, k: n,
                                  alpha: 1, a: pb + i * bStride, lda: ldb, b: pg + i * m * n, ldb: n, beta: 1, c: da + i * aStride, ldc: lda)
                        } else {
                            backend.gemm(transposeA: false, transposeB: !transposeB, m: m, n: k, k: n,
                                  alpha: 1, a: pg + i * m * n, lda: n, b: pb + i * bStride, ldb: ldb, beta: 1, c: da + i * aStride, ldc: lda)
                        }
                    }
                }
            }
            if b.requiresGrad {
                let db = b.gradientPointer()
                // dB (as stored): !tB: op(A)ᵀ·dC [k,n] ; tB: dCᵀ·op(A) [n,k]
                if sharedB && !transposeA {
                    if transposeB {
                        backend.gemm(transposeA: true, transposeB: false, m: n, n: k, k: batch * m,
                              alpha: 1, a: pg, lda: n, b: pa, ldb: lda, beta: 1, c: db, ldc: ldb)
                    } else {
                        backend.gemm(transposeA: true, transposeB: false, m: k, n: n, k: batch * m,
                              alpha: 1, a: pa, lda: lda, b: pg, ldb: n, beta: 1, c: db, ldc: ldb)
                    }
                } else {
                    for i in 0..<batch {
                        if transposeB {
                            backend.gemm(transposeA: true, transposeB: transposeA, m: n, n: k, k: m,
                                  alpha: 1, a: pg + i * m * n, lda: n, b: pa + i * aStride, ldb: lda, beta: 1, c: db + i * bStride, ldc: ldb)
                        } else {
                            backend.gemm(transposeA: !transposeA, transposeB: false, m: k, n: n, k: m,
                                  alpha: 1, a: pa + i * aStride, lda: lda, b: pg + i * m * n, ldb: n, beta: 1, c: db + i * bStride, ldc: ldb)
                        }
                    }
                }
            }
        }
    }

    /// Affine map over the last axis, PyTorch's `nn.Linear`: y = x·Wᵀ + b.
    ///
    /// x: [..., in], weight: [out, in], bias: [out] or nil → y: [..., out].
    /// One GEMM forward; backward dx += dy·W, dW += dyᵀ·x, db += Σ_rows dy.
    public static func linear(_ x: Variable, weight: Variable, bias: Variable? = nil) -> Variable {
        let inF = weight.shape[1], outF = weight.shape[0]
        precondition(x.shape.last == inF, "linear: input \(x.shape) does not end in \(inF) (weight \(weight.shape))")
        let rows = x.count / inF
        let outShape = Array(x.shape.dropLast()) + [outF]
        let backend = Backends.current
        let y = Tensor(shape: outShape) { c in
            if let bias {
                // every row starts as the bias; the GEMM adds x·Wᵀ (β = 1)
                backend.copyBlocks(dst: c, dstStride: outF, src: bias.value.readPointer, srcStride: 0, blocks: rows, length: outF, accumulate: false)
            }
            backend.gemm(transposeA: false, transposeB: true, m: rows, n: outF, k: inF, alpha: 1,
                         a: x.value.readPointer, lda: inF, b: weight.value.readPointer, ldb: inF, beta: bias == nil ? 0 : 1, c: c, ldc: outF)
        }
        let parents = bias.map { [x, weight, $0] } ?? [x, weight]
        return Variable(y, parents: parents) { g in
            let pg = g.readPointer
            if x.requiresGrad {
                backend.gemm(transposeA: false, transposeB: false, m: rows, n: inF, k: outF, alpha: 1,
                             a: pg, lda: outF, b: weight.value.readPointer, ldb: inF, beta: 1, c: x.gradientPointer(), ldc: inF)
            }
            if weight.requiresGrad {
                backend.gemm(transposeA: true, transposeB: false, m: outF, n: inF, k: rows, alpha: 1,
                             a: pg, lda: outF, b: x.value.readPointer, ldb: inF, beta: 1, c: weight.gradientPointer(), ldc: inF)
            }
            if let bias, bias.requiresGrad {
                // db += Σ_rows dy: the adjoint of broadcasting the bias over the rows
                backend.sumToShape(out: bias.gradientPointer(), x: pg, plan: BroadcastPlan([rows, outF], [outF]))
            }
        }
    }
}
