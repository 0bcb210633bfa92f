# The PyTorch side of `sane bench gemm`: SGEMM GFLOP/s of torch.mm (MKL in the CPU wheels) for the
# same products, same measurement (one warm-up, best of --repeats), same output lines.
#
#   python3 Scripts/bench/pytorch_gemm.py [--threads 2] [--repeats 5] [--shape MxNxK ...]
# Compare with:  sane bench gemm [--threads 2] [--shape MxNxK ...]
import argparse, time
import torch

DEFAULTS = ["3072x768x256", "3072x1024x256", "3072x256x1024", "3072x3072x1024", "48x48x64", "2048x2048x2048"]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--shape', action='append', help='MxNxK (repeatable)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    for s in a.shape or DEFAULTS:
        m, n, k = (int(v) for v in s.split('x'))
        x, y = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
        out = torch.empty(m, n)
        torch.mm(x, y, out=out)
        best = float('inf')
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            torch.mm(x, y, out=out)
            best = min(best, time.perf_counter() - t0)
        print(f"torch.mm {m:5d}×{n:5d}×{k:5d}  {best * 1e3:8.3f} ms  {2 * m * n * k / best / 1e9:7.1f} GFLOP/s")


if __name__ == '__main__':
    main()
