# The PyTorch side of `sane bench resnet-train`: torchvision's ResNet (BasicBlock) with the CIFAR
# stem of SANE-SPEC §9 (Scripts/golden/resnet_reference.py), trained with SGD (momentum 0.9,
# weight decay 5e-4) and cross-entropy on random CIFAR-shaped data [B, 3, 32, 32] on CPU.
# Reports images/s (wall) and images per second of process CPU time (all threads): each the best of
# --repeats epochs of --steps batches, after one warm-up epoch.
#
#   python3 Scripts/bench/pytorch_resnet_train.py            # Resnet18, width 64, batch 128, 2 threads
#   options: --architecture Resnet34 --width 16 --batch 128 --steps 3 --repeats 2 --threads 2 --json
import argparse, json, os, sys, time
import torch
import torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'golden'))
from resnet_reference import ResNet, BLOCKS


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--architecture', default='Resnet18', choices=sorted(BLOCKS))
    ap.add_argument('--width', type=int, default=64)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = ResNet(BLOCKS[a.architecture], width=a.width)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.rand(a.steps, a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.steps, a.batch))
    model.train()

    def epoch():
        for i in range(a.steps):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[i]), y[i]).backward()
            opt.step()

    epoch()
    best, best_cpu = float('inf'), float('inf')
    for _ in range(a.repeats):
        t, c = time.perf_counter(), time.process_time(); epoch()
        best, best_cpu = min(best, time.perf_counter() - t), min(best_cpu, time.process_time() - c)
    n = a.steps * a.batch
    r = {"benchmark": "resnet-train", "implementation": "pytorch " + torch.__version__, "architecture": a.architecture,
         "width": a.width, "threads": a.threads, "batch": a.batch, "steps": a.steps,
         "seconds_per_step": best / a.steps, "images_per_second": n / best,
         "process_cpu_seconds_per_step": best_cpu / a.steps, "images_per_cpu_second": n / best_cpu}
    if a.json: print(json.dumps(r))
    else: print(f"PyTorch {a.architecture} width {a.width} (SGD momentum), batch {a.batch}, {a.threads} threads: "
                f"{best / a.steps * 1e3:.1f} ms/step, {n / best:.1f} images/s (wall); {n / best_cpu:.1f} images per CPU second")


if __name__ == '__main__':
    main()
