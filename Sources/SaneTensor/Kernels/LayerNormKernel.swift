// Layer normalization over the last axis (Ba, Kiros & Hinton 2016), forward/backward pair.
//
//   μ = mean(x), rstd = 1/√(var(x) + ε), x̂ = (x − μ)·rstd, y = x̂·w (+ b)
//
// Shapes: x, y: (N, C); weight, bias: (C); mean, rstd: (N).

/// Forward; fills `mean` and `rstd` for the backward pass.
func layerNormForward(_ y: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
                      _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                      _ n: Int, _ c: Int, _ eps: Float) {
    Parallel.forEach(n, minimumPerWorker: 256) { r in
        let row = x + r * c, out = y + r * c
        var m: Float = 0
        for j in 0..<c { m += row[j] }
        m /= Float(c)
        var v: Float = 0
        for j in 0..<c { let d = row[j] - m; v += d * d }
        v /= Float(c)
        let s = 1 / (v + eps).squareRoot()
        if let bias { for j in 0..<c { out[j] = (row[j] - m) * s * weight[j] + bias[j] } }
        else { for j in 0..<c { out[j] = (row[j] - m) * s * weight[j] } }
        mean[r] = m; rstd[r] = s
    }
}

/// Backward; accumulates into dx, dweight, dbias (when given).
///   dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)),  dx̂ = dy·w,  dw += Σ dy·x̂,  db += Σ dy
func layerNormBackward(_ dx: UnsafeMutablePointer<Float>?, _ dweight: UnsafeMutablePointer<Float>?, _ dbias: UnsafeMutablePointer<Float>?,
                       _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                       _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>, _ n: Int, _ c: Int) {
    if let dx {
        Parallel.forEach(n, minimumPerWorker: 256) { r in
            let row = x + r * c, g = dy + r * c, d = dx + r * c
            let m = mean[r], s = rstd[r]
            var meanD: Float = 0, meanDX: Float = 0
            for j in 0..<c { let dn = g[j] * weight[j]; meanD += dn; meanDX += dn * (row[j] - m) * s }
            meanD /= Float(c); meanDX /= Float(c)
            for j in 0..<c {
                let xh = (row[j] - m) * s
                d[j] += s * (g[j] * weight[j] - meanD - xh * meanDX)
            }
        }
    }
    if dweight != nil || dbias != nil {
        for r in 0..<n {
            let row = x + r * c, g = dy + r * c, m = mean[r], s = rstd[r]
            if let dweight { for j in 0..<c { dweight[j] += g[j] * (row[j] - m) * s } }
            if let dbias { for j in 0..<c { dbias[j] += g[j] } }
        }
    }
}
