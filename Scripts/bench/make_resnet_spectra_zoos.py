# Randomly initialized ResNets in the Model Zoos layout, for timing the layer-wise spectral
# analysis (`sane analyze --zoo Z` without --model; BENCHMARKS.md "Layer spectra at ResNet size").
# NumPy only. torchvision's ResNet with the CIFAR stem (Scripts/golden/resnet_reference.py: same
# keys, same order) and torchvision's init: conv kaiming_normal(fan_out, relu), BatchNorm 1/0,
# running 0/1, fc uniform(±1/√fan_in). One zoo per (architecture, width), each with one model
# and its epoch-0 checkpoint, so one `sane analyze` run times exactly one model:
#   OUT/resnet18-w16  OUT/resnet34-w16  OUT/resnet18-w64 (11.2 M parameters)  OUT/resnet34-w64 (21.3 M)
# Usage (repository root):  python3 Scripts/bench/make_resnet_spectra_zoos.py /work/runs/lapack/zoos
import json, os, struct, sys
import numpy as np

BLOCKS = {"Resnet18": [2, 2, 2, 2], "Resnet34": [3, 4, 6, 3]}


def state_dict(blocks, width, rng, channels_in=3, classes=10):
    sd = {}
    def conv(key, cout, cin, k):
        sd[key + ".weight"] = rng.normal(0, np.sqrt(2 / (cout * k * k)), (cout, cin, k, k))
    def bn(key, c):
        sd[key + ".weight"] = np.ones(c); sd[key + ".bias"] = np.zeros(c)
        sd[key + ".running_mean"] = np.zeros(c); sd[key + ".running_var"] = np.ones(c)
        sd[key + ".num_batches_tracked"] = np.zeros(())
    conv("conv1", width, channels_in, 3); bn("bn1", width)
    c = width
    for s, n in enumerate(blocks):
        out = width << s
        for b in range(n):
            inp, stride = (c if b == 0 else out), (2 if b == 0 and s > 0 else 1)
            p = f"layer{s + 1}.{b}"
            conv(p + ".conv1", out, inp, 3); bn(p + ".bn1", out)
            conv(p + ".conv2", out, out, 3); bn(p + ".bn2", out)
            if stride != 1 or inp != out:
                conv(p + ".downsample.0", out, inp, 1); bn(p + ".downsample.1", out)
        c = out
    bound = 1 / np.sqrt(c)
    sd["fc.weight"] = rng.uniform(-bound, bound, (classes, c)); sd["fc.bias"] = rng.uniform(-bound, bound, classes)
    return sd


def save_safetensors(path, tensors):
    """Minimal safetensors writer (F32, keys in insertion order)."""
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        b = np.ascontiguousarray(t, dtype="<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(np.shape(t)), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h))); f.write(h); [f.write(b) for b in blobs]


if __name__ == "__main__":
    out = sys.argv[1]
    for arch in ("Resnet18", "Resnet34"):
        for width in (16, 64):
            sd = state_dict(BLOCKS[arch], width, np.random.default_rng(1))
            model_dir = os.path.join(out, f"{arch.lower()}-w{width}", f"{arch.lower()}_w{width}_seed1")
            ck = os.path.join(model_dir, "checkpoint_000000")
            os.makedirs(ck, exist_ok=True)
            save_safetensors(os.path.join(ck, "checkpoints.safetensors"), sd)
            params = {"model::type": arch, "model::width": width, "model::channels_in": 3, "model::o_dim": 10,
                      "seed": 1, "dataset::name": "none (random init)"}
            with open(os.path.join(model_dir, "params.json"), "w") as f: json.dump(params, f, indent=2)
            learned = sum(v.size for k, v in sd.items() if k.endswith("weight") or k.endswith("bias"))
            print(model_dir, learned, "parameters")
