# The PyTorch side of `sane bench sane-step`: one SANE training step on CPU — both views (2×B
# windows) through encoder, decoder and projection head, γ·NT-Xent + (1−γ)·masked MSE, backward,
# AdamW (weight decay on ≥2-D parameters only). The model is Scripts/golden/sane_reference.py,
# the reimplementation of SANE-SPEC §4–§5 that the golden tests compare the Swift model with.
# Same measurement as the Swift harness: one warm-up step, then the best of --repeats steps;
# synthetic normal tokens, all-ones masks, positions [t, t mod 5, t mod 8].
#
#   python3 Scripts/bench/pytorch_sane_step.py                      # cnn-cpu: d 256, 4 heads, 4+4 blocks
#   python3 Scripts/bench/pytorch_sane_step.py --config cnn-cpu-2   # d 256, 4 heads, 2+2 blocks
#   python3 Scripts/bench/pytorch_sane_step.py --config cnn-paper   # d 1024, 8 heads, 8+8 blocks
#   options: --threads N (default 2) --batch 32 --window 48 --repeats 5 --json
# Compare with:  sane bench sane-step --config cnn-cpu --threads 2 --batch 32 --window 48
import argparse, json, os, sys, time
import torch

sys.dont_write_bytecode = True   # no __pycache__ in the repository
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'golden'))
from sane_reference import SANE, sane_losses

# d_model, heads, encoder blocks, decoder blocks (d_t 289, d_z 128, tables 256/32/256, head 30)
PRESETS = {"cnn-cpu": (256, 4, 4, 4), "cnn-cpu-2": (256, 4, 2, 2), "cnn-paper": (1024, 8, 8, 8)}


def peak_memory_mib():
    """Peak resident memory (Linux VmHWM), as the Swift harness reports it."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--config', default='cnn-cpu', choices=sorted(PRESETS))
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--batch', type=int, default=32, help='windows per view')
    ap.add_argument('--window', type=int, default=48, help='tokens per window')
    ap.add_argument('--repeats', type=int, default=5, help='timed steps (best is reported)')
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    d, heads, enc, dec = PRESETS[a.config]
    d_t, d_z = 289, 128
    model = SANE(d_t=d_t, d=d, heads=heads, enc_blocks=enc, dec_blocks=dec, d_z=d_z, window=a.window,
                 max_tokens=256, max_layers=32, max_rows=256, p=30)
    params = list(model.parameters())
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 3e-9}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    shape = (a.batch, a.window, d_t)
    x1, x2 = torch.randn(shape), torch.randn(shape)
    m = torch.ones(shape)
    t = torch.arange(a.window)
    pos = torch.stack([t, t % 5, t % 8], dim=-1).expand(a.batch, a.window, 3).contiguous()

    forward = [0.0]

    def step():
        t0 = time.perf_counter()
        total, recon, contrast, _, _ = sane_losses(model, x1, x2, m, m, pos, pos, 0.05, 0.1)
        forward[0] = time.perf_counter() - t0
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()

    step()   # warm-up
    best = float('inf')
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    tokens = 2 * a.batch * a.window
    n_params = sum(p.numel() for p in params)
    result = {"benchmark": "sane-step", "implementation": f"pytorch {torch.__version__}", "config": a.config,
              "d_model": d, "blocks": f"{enc}+{dec}", "batch": a.batch, "window": a.window, "threads": a.threads,
              "seconds_per_step": best, "forward_seconds": forward[0], "tokens_per_second": tokens / best,
              "parameters": n_params, "peak_memory_mib": peak_memory_mib()}
    if a.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(f"PyTorch {torch.__version__} SANE step {a.config} (d {d}, {enc}+{dec} blocks, {n_params} params), "
              f"2×{a.batch} windows × {a.window} tokens, {a.threads} threads: {best * 1e3:.1f} ms/step "
              f"(forward {forward[0] * 1e3:.1f} ms), {tokens / best:.0f} tokens/s, peak {peak_memory_mib():.0f} MiB")


if __name__ == '__main__':
    main()
