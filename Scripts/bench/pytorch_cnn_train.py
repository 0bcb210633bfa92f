# The PyTorch side of the zoo-training benchmark: the zoo `CNN` of SANE-SPEC §1 (c_in 1, tanh)
#   Conv(1,8,5) → MaxPool2 → tanh → Conv(8,6,5) → MaxPool2 → tanh → Conv(6,4,2) → tanh →
#   Flatten → Linear(36,20) → tanh → Linear(20,10)          (2,464 parameters)
# trained with Adam and cross-entropy on random MNIST-shaped data [B,1,28,28] on CPU, one thread
# by default (zoo training runs one model per core). Reports images/s: the best of --repeats
# epochs of --steps batches each, after one warm-up epoch.
#
#   python3 Scripts/bench/pytorch_cnn_train.py                 # batch 64, 1 thread
#   options: --threads N --batch 64 --steps 100 --repeats 3 --lr 1e-3 --json
import argparse, json, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        # indices as the zoo state-dict keys module_list.{0,3,6,9,11}
        self.module_list = nn.Sequential(
            nn.Conv2d(1, 8, 5), nn.MaxPool2d(2), nn.Tanh(),
            nn.Conv2d(8, 6, 5), nn.MaxPool2d(2), nn.Tanh(),
            nn.Conv2d(6, 4, 2), nn.Tanh(), nn.Flatten(),
            nn.Linear(36, 20), nn.Tanh(), nn.Linear(20, 10))

    def forward(self, x):
        return self.module_list(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--steps', type=int, default=100, help='batches per timed epoch')
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = CNN()
    assert sum(p.numel() for p in model.parameters()) == 2464
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    x = torch.randn(a.steps, a.batch, 1, 28, 28)
    y = torch.randint(0, 10, (a.steps, a.batch))

    def epoch():
        for i in range(a.steps):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[i]), y[i]).backward()
            opt.step()

    epoch()   # warm-up
    best = float('inf')
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        epoch()
        best = min(best, time.perf_counter() - t0)
    ips = a.steps * a.batch / best
    result = {"benchmark": "cnn-train", "implementation": f"pytorch {torch.__version__}", "threads": a.threads,
              "batch": a.batch, "steps": a.steps, "seconds_per_step": best / a.steps, "images_per_second": ips}
    if a.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(f"PyTorch {torch.__version__} zoo CNN (tanh, Adam), batch {a.batch}, {a.threads} thread(s): "
              f"{best / a.steps * 1e3:.2f} ms/step, {ips:.0f} images/s")


if __name__ == '__main__':
    main()
