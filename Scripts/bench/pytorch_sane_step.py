# The PyTorch side of `sane bench sane-step`: one SANE training step on CPU — both views (2×B
# windows) through encoder, decoder and projection head, γ·NT-Xent + (1−γ)·masked MSE, backward,
# AdamW (weight decay on ≥2-D parameters only). The model is Scripts/golden/sane_reference.py,
# the reimplementation of SANE-SPEC §4–§5 that the golden tests compare the Swift model with.
# Same measurement as the Swift harness: one warm-up step, then the best of --repeats steps;
# synthetic normal tokens, all-ones masks, positions [t, t mod 5, t mod 8] (CNN presets). The ResNet
# presets (resnet-cpu, resnet-paper) use d_t 288, window 256, 8 windows per view and position tables
# of the size `sane bench sane-step` gives them (the tokenized ResNet-18 of width 8 / 64); their
# windows lie at evenly spread starts with positions [n, n·L/N, n mod K] (the Swift harness takes
# l and k from the real layout; an embedding lookup costs the same whatever the index).
# Tokens/s = 2 × batch × window (both views) / the fastest step's wall time; CPU time is the
# process's (all threads), the least over the timed steps.
#
#   python3 Scripts/bench/pytorch_sane_step.py                      # cnn-cpu: d 256, 4 heads, 4+4 blocks
#   python3 Scripts/bench/pytorch_sane_step.py --config cnn-cpu-2   # d 256, 4 heads, 2+2 blocks
#   python3 Scripts/bench/pytorch_sane_step.py --config cnn-paper   # d 1024, 8 heads, 8+8 blocks
#   python3 Scripts/bench/pytorch_sane_step.py --config resnet-cpu  # d_t 288, d 128, 4+4 blocks, 8 × 256 tokens
#   python3 Scripts/bench/pytorch_sane_step.py --config resnet-paper --blocks 2 --batch 2   # d 2048, 8 heads
#   options: --threads N (default 2) --batch B --window W --d-model D --heads H --blocks N --repeats 5 --json
# Compare with:  sane bench sane-step --config cnn-cpu --threads 2 --batch 32 --window 48 (same options)
import argparse, json, os, sys, time
import torch

sys.dont_write_bytecode = True   # no __pycache__ in the repository
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'golden'))
from sane_reference import SANE, sane_losses

# d_model, heads, encoder = decoder blocks, d_t, windows per view, window, tables (tokens, layers, rows);
# d_z 128, head 30. The ResNet tables are those `sane bench sane-step --config resnet-* --json` reports.
RESNET_CPU_TABLES = (2560, 80, 256)      # Configs/resnet-cpu.json; the width-8 ResNet-18 fits
RESNET_PAPER_TABLES = (43924, 41, 512)   # ResNet-18 width 64 (10 classes): 43,924 tokens, 41 layers, 512 rows
CNN = dict(d_t=289, batch=32, window=48, tables=(256, 32, 256))
PRESETS = {"cnn-cpu": dict(CNN, d=256, heads=4, blocks=4), "cnn-cpu-2": dict(CNN, d=256, heads=4, blocks=2),
           "cnn-paper": dict(CNN, d=1024, heads=8, blocks=8),
           "resnet-cpu": dict(d=128, heads=4, blocks=4, d_t=288, batch=8, window=256, tables=RESNET_CPU_TABLES),
           "resnet-paper": dict(d=2048, heads=8, blocks=8, d_t=288, batch=8, window=256, tables=RESNET_PAPER_TABLES)}


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
    ap.add_argument('--batch', type=int, help='windows per view (default: the preset\'s)')
    ap.add_argument('--window', type=int, help='tokens per window (default: the preset\'s)')
    ap.add_argument('--d-model', type=int, help='d_model (default: the preset\'s)')
    ap.add_argument('--heads', type=int, help='attention heads (default: the preset\'s)')
    ap.add_argument('--blocks', type=int, help='encoder = decoder blocks (default: the preset\'s)')
    ap.add_argument('--repeats', type=int, default=5, help='timed steps (best is reported)')
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = PRESETS[a.config]
    d, heads, blocks = a.d_model or c["d"], a.heads or c["heads"], a.blocks or c["blocks"]
    a.batch, a.window = a.batch or c["batch"], a.window or c["window"]
    enc = dec = blocks
    d_t, d_z = c["d_t"], 128
    max_tokens, max_layers, max_rows = c["tables"]
    max_tokens = max(max_tokens, a.window)
    model = SANE(d_t=d_t, d=d, heads=heads, enc_blocks=enc, dec_blocks=dec, d_z=d_z, window=a.window,
                 max_tokens=max_tokens, max_layers=max_layers, max_rows=max_rows, p=30)
    params = list(model.parameters())
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 3e-9}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    shape = (a.batch, a.window, d_t)
    x1, x2 = torch.randn(shape), torch.randn(shape)
    m = torch.ones(shape)
    if a.config.startswith("resnet"):
        starts = [b * (max_tokens - a.window) // max(a.batch - 1, 1) for b in range(a.batch)]
        n = torch.stack([torch.arange(s, s + a.window) for s in starts])
        pos = torch.stack([n, n * max_layers // max_tokens, n % max_rows], dim=-1).contiguous()
    else:
        t = torch.arange(a.window)
        pos = torch.stack([t, t % 5, t % 8], dim=-1).expand(a.batch, a.window, 3).contiguous()

    forward = [0.0]
    cpu = [float('inf')]

    def step():
        c0 = time.process_time()
        t0 = time.perf_counter()
        total, recon, contrast, _, _ = sane_losses(model, x1, x2, m, m, pos, pos, 0.05, 0.1)
        forward[0] = time.perf_counter() - t0
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        cpu[0] = min(cpu[0], time.process_time() - c0)

    step()   # warm-up
    cpu[0] = float('inf')
    best = float('inf')
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    tokens = 2 * a.batch * a.window
    n_params = sum(p.numel() for p in params)
    result = {"benchmark": "sane-step", "implementation": f"pytorch {torch.__version__}", "config": a.config,
              "d_model": d, "heads": heads, "blocks": f"{enc}+{dec}", "batch": a.batch, "window": a.window, "threads": a.threads,
              "token_size": d_t, "position_tables": [max_tokens, max_layers, max_rows], "cpu_seconds_per_step": cpu[0],
              "seconds_per_step": best, "forward_seconds": forward[0], "tokens_per_second": tokens / best,
              "parameters": n_params, "peak_memory_mib": peak_memory_mib()}
    if a.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(f"PyTorch {torch.__version__} SANE step {a.config} (d_t {d_t}, d {d}, {heads} heads, {enc}+{dec} blocks, "
              f"tables {max_tokens}/{max_layers}/{max_rows}, {n_params} params), "
              f"2×{a.batch} windows × {a.window} tokens, {a.threads} threads: {best * 1e3:.1f} ms/step "
              f"(forward {forward[0] * 1e3:.1f} ms, CPU {cpu[0] * 1e3:.1f} ms), {tokens / best:.0f} tokens/s, peak {peak_memory_mib():.0f} MiB")


if __name__ == '__main__':
    main()
