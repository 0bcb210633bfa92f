# A small ResNet-18 zoo in the Model Zoos layout for the token-store memory benchmark
# (BENCHMARKS.md "Streaming training data: peak memory"): MODELS random-init ResNet-18s (CIFAR
# stem, width W) whose weights drift by a small random walk over EPOCHS+1 checkpoints, with
# result lines (made-up accuracies: the benchmark measures memory, not learning), and a copy
# `ZOO-x10` with every model 10 times under new names (hard links: same bytes, 10× the checkpoints).
# NumPy only; keys and init as Scripts/bench/make_resnet_spectra_zoos.py.
# Usage (repository root):  python3 Scripts/bench/make_resnet_stream_zoo.py /work/zoos-scratch/resnet18-w16 [W] [MODELS] [EPOCHS]
import json, os, sys
import numpy as np
sys.path.insert(0, os.path.dirname(__file__))
from make_resnet_spectra_zoos import state_dict, save_safetensors, BLOCKS

out = sys.argv[1]
width = int(sys.argv[2]) if len(sys.argv) > 2 else 16
models = int(sys.argv[3]) if len(sys.argv) > 3 else 14
epochs = int(sys.argv[4]) if len(sys.argv) > 4 else 2
for m in range(models):
    rng = np.random.default_rng(100 + m)
    sd = state_dict(BLOCKS["Resnet18"], width, rng)
    trial = os.path.join(out, f"resnet18_w{width}_{m:03d}")
    lines = []
    for e in range(epochs + 1):
        ck = os.path.join(trial, f"checkpoint_{e:06d}")
        os.makedirs(ck, exist_ok=True)
        save_safetensors(os.path.join(ck, "checkpoints.safetensors"), sd)
        acc = 0.1 + 0.2 * e + 0.01 * m
        lines.append(json.dumps({"train_loss": 1.0, "train_acc": acc + 0.02, "test_loss": 1.0, "test_acc": acc, "training_iteration": e}))
        sd = {k: (v + 0.01 * rng.normal(0, 1, v.shape) * (np.std(v) + 1e-3) if not k.endswith(("running_mean", "running_var", "num_batches_tracked")) else v)
              for k, v in sd.items()}
    with open(os.path.join(trial, "result.json"), "w") as f: f.write("\n".join(lines) + "\n")
    params = {"model::type": "Resnet18", "model::width": width, "model::channels_in": 3, "model::o_dim": 10, "seed": m, "dataset::name": "none (random walk)"}
    with open(os.path.join(trial, "params.json"), "w") as f: json.dump(params, f, indent=2)
big = out.rstrip("/") + "-x10"
for m in range(models):
    source = os.path.join(out, f"resnet18_w{width}_{m:03d}")
    for c in range(10):
        # Separate folders (a zoo lists symlinked model folders once), files hard-linked (no extra disk).
        copy = os.path.join(big, f"resnet18_w{width}_{m:03d}_copy{c}")
        for root, _, files in os.walk(source):
            target = os.path.join(copy, os.path.relpath(root, source))
            os.makedirs(target, exist_ok=True)
            for name in files:
                if not os.path.exists(os.path.join(target, name)): os.link(os.path.join(root, name), os.path.join(target, name))
print(out, big)
