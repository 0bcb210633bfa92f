// Usage: swift run -c release PackedGEMM [threads: 1 or 2]
// Per product of the d-256 SANE step (and a few d-1024 ones): OpenBLAS as Sane calls it (rows split
// over 2 single-threaded calls when tall, else OpenBLAS's threads) against the packed GEMM (rows or
// columns split over 2 threads), alternating, best of 30; maxdiff against OpenBLAS.
import CBLAS
import Foundation
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
func alloc64(_ n: Int) -> UnsafeMutablePointer<Float> { UnsafeMutableRawPointer.allocate(byteCount: 4 * n, alignment: 64).bindMemory(to: Float.self, capacity: n) }
let scratch = (0..<2).map { _ in alloc64(PackedGEMM.scratchCount) }
func blasCall(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), 0, c, Int32(ldc))
}
func sane(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    if m / 2 >= 512 {
        openblas_set_num_threads(1)
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let lo = i * m / 2 / 16 * 16, hi = i == 1 ? m : (i + 1) * m / 2 / 16 * 16
            blasCall(ta, tb, hi - lo, n, k, ta ? a + lo : a + lo * lda, lda, b, ldb, c + lo * ldc, ldc)
        }
    } else { openblas_set_num_threads(2); blasCall(ta, tb, m, n, k, a, lda, b, ldb, c, ldc) }
}
func packed(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, threads: Int) {
    if threads == 1 { gemmRun(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, c, ldc, scratch: scratch[0]); return }
    DispatchQueue.concurrentPerform(iterations: 2) { i in
        if m >= n {
            let lo = i * m / 2 / 6 * 6, hi = i == 1 ? m : (i + 1) * m / 2 / 6 * 6
            gemmRun(ta, tb, hi - lo, n, k, 1, ta ? a + lo : a + lo * lda, lda, b, ldb, 0, c + lo * ldc, ldc, scratch: scratch[i])
        } else {
            let lo = i * n / 2 / 16 * 16, hi = i == 1 ? n : (i + 1) * n / 2 / 16 * 16
            gemmRun(ta, tb, m, hi - lo, k, 1, a, lda, tb ? b + lo * ldb : b + lo, ldb, 0, c + lo, ldc, scratch: scratch[i])
        }
    }
}
let resident = ProcessInfo.processInfo.environment["RESIDENT"] != nil
skipPack = ProcessInfo.processInfo.environment["SKIP"] != nil
func gemmRun(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, scratch: UnsafeMutablePointer<Float>) {
    if resident { PackedGEMM.runResident(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, scratch: scratch) }
    else { PackedGEMM.run(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, scratch: scratch) }
}
let threads = Int(CommandLine.arguments.dropFirst().first ?? "2") ?? 2
// d-256 step: Linear forward (NT), dX (NN), dW (TN)
let shapes: [(Int, Int, Int, Bool, Bool)] = [
  (3072,768,256,false,true),(3072,256,256,false,true),(3072,1024,256,false,true),(3072,256,1024,false,true),(3072,256,289,false,true),(3072,289,256,false,true),
  (3072,256,768,false,false),(3072,256,256,false,false),(3072,256,1024,false,false),(3072,1024,256,false,false),
  (768,256,3072,true,false),(256,256,3072,true,false),(1024,256,3072,true,false),(256,1024,3072,true,false),
  (512,1536,1024,false,true),(512,1024,4096,false,true),(512,4096,1024,false,false),(1024,4096,512,true,false),(48,48,64,false,true)]
var tb1 = 0.0, tb2 = 0.0
for (m,n,k,ta,tb) in shapes {
    let lda = ta ? m : k, ldb = tb ? k : n
    let a = alloc64(m*k), b = alloc64(k*n), c1 = alloc64(m*n), c2 = alloc64(m*n)
    for i in 0..<(m*k) { a[i] = Float.random(in: -1...1) }; for i in 0..<(k*n) { b[i] = Float.random(in: -1...1) }
    c1.update(repeating: 0, count: m*n); c2.update(repeating: 0, count: m*n)
    var t1 = 1e9, t2 = 1e9
    for _ in 0..<30 {
        var t = now()
        if threads == 1 { openblas_set_num_threads(1); blasCall(ta, tb, m, n, k, a, lda, b, ldb, c1, n) } else { sane(ta, tb, m, n, k, a, lda, b, ldb, c1, n) }
        t1 = min(t1, now() - t)
        t = now()
        packed(ta, tb, m, n, k, a, lda, b, ldb, c2, n, threads: threads)
        t2 = min(t2, now() - t)
    }
    var err: Float = 0; for i in 0..<(m*n) { err = max(err, abs(c1[i]-c2[i])) }
    let f = 2.0 * Double(m*n*k) / 1e9
    if m == 3072 || m <= 1024 && k == 3072 { tb1 += t1; tb2 += t2 }
    print(String(format: "%5d×%5d×%5d tA %d tB %d  openblas %6.1f  packed %6.1f GFLOP/s  (%.2fx) maxdiff %.2e", m, n, k, ta ? 1:0, tb ? 1:0, f/t1, f/t2, t1/t2, err))
}
print(String(format: "d256 shapes total: openblas %.2f ms, packed %.2f ms", tb1*1e3, tb2*1e3))
