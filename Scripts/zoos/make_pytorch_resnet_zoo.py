#!/usr/bin/env python3
# PyTorch-trained ResNet-18s on CIFAR-10 in the published "Model Zoos" layout, for checking that
# `sane zoo eval` re-evaluates foreign checkpoints to their recorded accuracy (issue 13).
#
#   python3 Scripts/zoos/make_pytorch_resnet_zoo.py --out ZOO [--models 3] [--epochs 2]
#       [--train-size 5000] [--width 8] [--data ../shared/data]
#   python3 Scripts/zoos/make_pytorch_resnet_zoo.py --fixture
#       writes Tests/SaneTests/Golden/cifar-resnet-zoo/ (a width-2 ResNet-18, 64 Adam steps)
#
# Models: torchvision's ResNet-18 with the CIFAR stem (3x3 stride-1 conv1, no max-pool) and a width
# multiplier (Scripts/golden/resnet_reference.py), keys as torchvision names them; every second
# model is saved under the wrapper prefix "model.". Adam (lr 1e-3), batch 128 (64 for the
# fixture), no augmentation, pixels / 255 without normalization, BatchNorm in training mode while
# training (so running statistics and num_batches_tracked are real) and in evaluation mode for
# every measurement. result.json: one line per epoch 0 (= initialization) .. E, test_acc / test_loss
# on all 10,000 test images, train_acc / train_loss on the training subset.
#
# Pixels: exactly Sane's. Pillow is not required: the script reads the decoded arrays Sane caches on
# its first CIFAR-10 load (safetensors, U8 `images` [N,32,32,3] HWC RGB, `labels` [N]; folder
# $SANE_CACHE, else $XDG_CACHE_HOME/sane, else ~/.cache/sane; file named after the archive's size and
# SHA-256, Sources/SaneData/CIFAR10.swift) and checks them against the SHA-256 of correctly decoded
# pixels and labels in ../shared/data/cifar10/README.md before training; a mismatch stops it.
import argparse, collections, hashlib, json, os, sys, time
import numpy as np, torch, torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..', '..')
sys.path.insert(0, os.path.join(ROOT, 'Scripts', 'golden'))
from resnet_reference import ResNet, BLOCKS          # noqa: E402
from safetensors_writer import save_safetensors     # noqa: E402

ARCHIVE = 'cifar10-jpeg75-images.tar.gz'
# ../shared/data/cifar10/README.md: SHA-256 of the decoded pixels (N x 32 x 32 x 3 uint8) and labels.
HASHES = {'train': ('bf3aabd52be912dae02a0435296c4dab5289524b57f55cd162dc4796935a611b',
                    'a29f2a5ffc141bb1c9e1af453e9a5ef8c316b2f675f8cea1d849d220d33a14fb'),
          'test': ('5a6aa8185204d80b65d3dfb540696dadd5f10d185ded226a96665d3e0fc6259f',
                   'a054c239a40ee7f2a5745e7e4bc11a51e9cb40c98134b602c1068e6a207487c6')}


def cache_dir():
    if os.environ.get('SANE_CACHE'): return os.environ['SANE_CACHE']
    if os.environ.get('XDG_CACHE_HOME'): return os.path.join(os.environ['XDG_CACHE_HOME'], 'sane')
    return os.path.expanduser('~/.cache/sane')


def read_u8_safetensors(path):
    with open(path, 'rb') as f: blob = f.read()
    n = int.from_bytes(blob[:8], 'little'); header = json.loads(blob[8:8 + n]); out = {}
    for name, t in header.items():
        if name == '__metadata__': continue
        assert t['dtype'] == 'U8', (path, name, t['dtype'])
        a, b = t['data_offsets']
        out[name] = np.frombuffer(blob, np.uint8, b - a, 8 + n + a).reshape(t['shape'])
    return out


def load_cifar(data_root):
    """Sane's decoded CIFAR-10 splits, verified against the README hashes: {split: (x, y)}."""
    archive = os.path.join(data_root, 'cifar10', ARCHIVE)
    with open(archive, 'rb') as f: blob = f.read()
    key = f"cifar10-jpeg75-{len(blob)}-{hashlib.sha256(blob).hexdigest()[:16]}"
    splits = {}
    for split, (pixels_sha, labels_sha) in HASHES.items():
        path = os.path.join(cache_dir(), f'{key}-{split}.safetensors')
        if not os.path.exists(path):
            sys.exit(f'error: no decoded CIFAR-10 cache at {path}\n'
                     f'hint: let Sane decode the archive once, e.g. `sane zoo eval ZOO --data {data_root}` on any cifar10 zoo')
        t = read_u8_safetensors(path); x, y = t['images'], t['labels']
        got = (hashlib.sha256(x.tobytes()).hexdigest(), hashlib.sha256(y.tobytes()).hexdigest())
        if got != (pixels_sha, labels_sha):
            sys.exit(f'error: {path}: decoded {split} pixels/labels hash {got}, README says {(pixels_sha, labels_sha)}')
        print(f'{split}: {len(y)} images, pixels and labels match the README hashes', flush=True)
        splits[split] = (x, y)
    return splits


def to_tensor(x):
    """uint8 [N,32,32,3] HWC -> float [N,3,32,32] in [0,1], as Sane scales them."""
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).float() / 255


@torch.no_grad()
def evaluate(model, x, y, batch=500):
    model.eval(); correct, loss = 0, 0.0
    for i in range(0, len(y), batch):
        logits = model(to_tensor(x[i:i + batch])); t = torch.from_numpy(y[i:i + batch].astype(np.int64))
        correct += (logits.argmax(1) == t).sum().item(); loss += F.cross_entropy(logits, t, reduction='sum').item()
    return correct / len(y), loss / len(y)


def train_model(folder, seed, width, epochs, train_x, train_y, test, batch, prefix):
    """Trains one model, writing params.json, result.json and checkpoint_00000E/checkpoints."""
    torch.manual_seed(seed)
    model = ResNet(BLOCKS['Resnet18'], width=width)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    os.makedirs(folder, exist_ok=True)
    params = {'model::type': 'Resnet18', 'model::width': width, 'model::channels_in': 3, 'model::o_dim': 10,
              'model::nlin': 'relu', 'model::init_type': 'kaiming_normal', 'optim::optimizer': 'adam', 'optim::lr': 1e-3,
              'optim::wd': 0, 'seed': seed, 'training::batchsize': batch, 'training::epochs_train': epochs,
              'training::train_size': len(train_y), 'dataset::name': 'cifar10', 'framework': f'pytorch {torch.__version__}'}
    with open(os.path.join(folder, 'params.json'), 'w') as f: json.dump(params, f, indent=2)
    name = os.path.basename(folder); rng = np.random.default_rng(seed); lines = []
    for epoch in range(epochs + 1):
        t0 = time.time()
        if epoch > 0:
            model.train()
            order = rng.permutation(len(train_y))
            for i in range(0, len(order) - batch + 1, batch):
                idx = order[i:i + batch]
                opt.zero_grad()
                F.cross_entropy(model(to_tensor(train_x[idx])), torch.from_numpy(train_y[idx].astype(np.int64))).backward()
                opt.step()
        tra, trl = evaluate(model, train_x, train_y); tea, tel = evaluate(model, *test)
        ck = os.path.join(folder, f'checkpoint_{epoch:06d}'); os.makedirs(ck, exist_ok=True)
        torch.save(collections.OrderedDict((prefix + k, v) for k, v in model.state_dict().items()), os.path.join(ck, 'checkpoints'))
        lines.append(json.dumps({'train_loss': trl, 'train_acc': tra, 'test_loss': tel, 'test_acc': tea,
                                 'training_iteration': epoch, 'time_this_iter_s': time.time() - t0, 'trial_id': name}))
        with open(os.path.join(folder, 'result.json'), 'w') as f: f.write('\n'.join(lines) + '\n')
        print(f'{name} epoch {epoch}: test_acc {tea:.4f} test_loss {tel:.4f} ({time.time() - t0:.0f} s)', flush=True)
    return model


def probe_inputs(n=4):
    """Inputs both sides compute without data: x[n,c,y,x] = ((131n + 71c + 37y + 11x) mod 256) / 255."""
    n_, c, yy, xx = np.meshgrid(np.arange(n), np.arange(3), np.arange(32), np.arange(32), indexing='ij')
    return torch.from_numpy(((131 * n_ + 71 * c + 37 * yy + 11 * xx) % 256).astype(np.float32) / 255)


def main():
    p = argparse.ArgumentParser(description='PyTorch-trained ResNet-18s on CIFAR-10 in the Model Zoos layout (see the header comment).')
    p.add_argument('--out'); p.add_argument('--fixture', action='store_true')
    p.add_argument('--data', default=os.path.join(ROOT, '..', 'shared', 'data'))
    p.add_argument('--models', type=int, default=3); p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--train-size', type=int, default=5000); p.add_argument('--width', type=int, default=8)
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args()
    if not a.out and not a.fixture: p.error('give --out ZOO or --fixture')
    torch.set_num_threads(a.threads)
    cifar = load_cifar(a.data)
    (trx, try_), test = cifar['train'], cifar['test']
    if a.fixture:
        out = os.path.join(ROOT, 'Tests', 'SaneTests', 'Golden', 'cifar-resnet-zoo')
        idx = np.sort(np.random.default_rng(0).choice(len(try_), 4096, replace=False))
        model = train_model(os.path.join(out, 'resnet18_w2_cifar_seed=1'), 1, 2, 1, trx[idx], try_[idx], test, 64, '')
        # Keep only the trained checkpoint (size); epoch 0 stays in result.json.
        init = os.path.join(out, 'resnet18_w2_cifar_seed=1', 'checkpoint_000000')
        os.remove(os.path.join(init, 'checkpoints')); os.rmdir(init)
        model.eval()
        with torch.no_grad():
            save_safetensors(os.path.join(out, 'logits.safetensors'),
                             {'probe_logits': model(probe_inputs()), 'test_logits_first8': model(to_tensor(test[0][:8]))})
        return
    for m in range(a.models):
        seed = m + 1; prefix = 'model.' if m % 2 == 1 else ''
        idx = np.sort(np.random.default_rng(seed).choice(len(try_), a.train_size, replace=False))
        train_model(os.path.join(a.out, f'pytorch_resnet18_w{a.width}_{m:05d}_seed={seed}'), seed, a.width, a.epochs,
                    trx[idx], try_[idx], test, 128, prefix)


if __name__ == '__main__':
    main()
