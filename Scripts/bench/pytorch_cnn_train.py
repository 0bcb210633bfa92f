# The PyTorch side of the zoo-training benchmark: the zoo `CNN` of SANE-SPEC §1 (c_in 1, tanh)
#   Conv(1,8,5) → MaxPool2 → tanh → Conv(8,6,5) → MaxPool2 → tanh → Conv(6,4,2) → tanh →
#   Flatten → Linear(36,20) → tanh → Linear(20,10)          (2,464 parameters)
# on random MNIST-shaped data [B,1,28,28], or with --arch CNN3 the CIFAR CNN (c_in 3, tanh,
# dropout 0 as in the CNN3 seed zoo)
#   Conv(3,16,3) → MaxPool2 → tanh → Drop → Conv(16,32,3) → MaxPool2 → tanh → Drop →
#   Conv(32,15,3) → MaxPool2 → tanh → Drop → Flatten → Linear(60,20) → tanh → Drop → Linear(20,10)
#   (10,853 parameters) on random CIFAR-shaped data [B,3,32,32];
# trained with Adam and cross-entropy on CPU, one thread by default (zoo training runs one model
# per core). Reports images/s: the best of --repeats epochs of --steps batches each, after one
# warm-up epoch.
#
#   python3 Scripts/bench/pytorch_cnn_train.py                 # CNN, batch 64, 1 thread
#   options: --arch CNN|CNN3 --threads N --batch 64 --steps 100 --repeats 3 --lr 1e-3 --json
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


class CNN3(nn.Module):
    def __init__(self, p=0.0):
        super().__init__()
        # indices as the zoo state-dict keys module_list.{0,4,8,13,16}
        self.module_list = nn.Sequential(
            nn.Conv2d(3, 16, 3), nn.MaxPool2d(2), nn.Tanh(), nn.Dropout(p),
            nn.Conv2d(16, 32, 3), nn.MaxPool2d(2), nn.Tanh(), nn.Dropout(p),
            nn.Conv2d(32, 15, 3), nn.MaxPool2d(2), nn.Tanh(), nn.Dropout(p), nn.Flatten(),
            nn.Linear(60, 20), nn.Tanh(), nn.Dropout(p), nn.Linear(20, 10))

    def forward(self, x):
        return self.module_list(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--arch', choices=['CNN', 'CNN3'], default='CNN')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--steps', type=int, default=100, help='batches per timed epoch')
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model, params, shape = (CNN(), 2464, (1, 28, 28)) if a.arch == 'CNN' else (CNN3(), 10853, (3, 32, 32))
    assert sum(p.numel() for p in model.parameters()) == params
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    x = torch.randn(a.steps, a.batch, *shape)
    y = torch.randint(0, 10, (a.steps, a.batch))

    def epoch():
        for i in range(a.steps):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[i]), y[i]).backward()
            opt.step()

    epoch()   # warm-up
    best = best_cpu = float('inf')
    for _ in range(a.repeats):
        t0, c0 = time.perf_counter(), time.thread_time()
        epoch()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.thread_time() - c0)   # this thread's CPU time (1 thread: robust on a loaded machine)
    ips = a.steps * a.batch / best
    result = {"benchmark": "cnn-train", "implementation": f"pytorch {torch.__version__}", "architecture": a.arch, "threads": a.threads,
              "batch": a.batch, "steps": a.steps, "seconds_per_step": best / a.steps, "images_per_second": ips,
              "cpu_seconds_per_step": best_cpu / a.steps, "images_per_cpu_second": a.steps * a.batch / best_cpu}
    if a.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(f"PyTorch {torch.__version__} zoo {a.arch} (tanh, Adam), batch {a.batch}, {a.threads} thread(s): "
              f"{best / a.steps * 1e3:.2f} ms/step, {ips:.0f} images/s (wall), "
              f"{a.steps * a.batch / best_cpu:.0f} images/s (this thread's CPU time)")


if __name__ == '__main__':
    main()
