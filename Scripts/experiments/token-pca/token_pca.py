# How much of a zoo's token variance can ANY per-token code of k dimensions keep? A linear bound for
# SANE's reconstruction (issue 14 item 7: why the ResNet SANE reconstructs with R² 0.28).
#
# SANE encodes each token (d_t values) through a d_model-wide embedding and a latent of d_z values
# per token (Configs/resnet-cpu.json: d_model 128, d_z 128, d_t 288). Principal components fitted on
# the training checkpoints' tokens give the best *linear* k-dimensional code; their R² on the
# validation checkpoints is what a linear encoder/decoder of that width reaches:
#   global   one PCA over all tokens (a code that does not know the token's position)
#   layer    one PCA per layer (the decoder knows the layer from its position embedding)
#   mean     the per-position mean of the training checkpoints (a decoder that ignores the input)
# R² = 1 − Σ m(ŷ − y)² / Σ m(y − ȳ)² over real entries (m = 1 where the token holds a weight),
# exactly as `SequenceReconstruction.evaluate` scores SANE. Tokens come from a run's token store
# (aligned and standardized as SANE saw them); real entries are the non-zero ones (padding is 0).
#
#   python3 Scripts/experiments/token-pca/token_pca.py RUN/token-store ZOO_CHECKPOINT.safetensors [--json OUT]
# ZOO_CHECKPOINT: any checkpoint of the zoo (only its key names and shapes are read, for the layers).
import argparse, json, math, struct, sys
import numpy as np

def header(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        return json.loads(f.read(n)), 8 + n

def tensor(path, name, cache={}):
    if path not in cache: cache[path] = header(path)
    h, start = cache[path]
    a, b = h[name]['data_offsets']
    return np.fromfile(path, dtype=np.float32, count=(b - a) // 4, offset=start + a).reshape(h[name]['shape'])

def layer_sizes(checkpoint, token_size):
    """Tokens per layer, in the tokenizer's order: weight (+bias) rows, BN weight+bias rows of 2."""
    h, _ = header(checkpoint)
    keys = sorted((k for k in h if k != '__metadata__'), key=lambda k: h[k]['data_offsets'][0])
    sizes, seen = [], set()
    for k in keys:
        if 'running_' in k or 'num_batches' in k: continue
        base = k.rsplit('.', 1)[0]
        if base in seen: continue
        seen.add(base)
        shape = h[base + '.weight']['shape']
        row = (math.prod(shape[1:]) if len(shape) > 1 else 1) + (1 if base + '.bias' in h else 0)
        sizes.append((base, shape[0] * math.ceil(row / token_size)))
    return sizes

def r2(pred, y, m, mean):
    return 1 - float((m * (pred - y) ** 2).sum()) / float((m * (y - mean) ** 2).sum())

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('store'); ap.add_argument('checkpoint'); ap.add_argument('--json')
    ap.add_argument('--ks', default='16,32,64,128,192,288')
    args = ap.parse_args()
    index = json.load(open(f'{args.store}/index.json'))
    def load(split):
        xs, epochs = [], []
        for e in index[split]:
            shard = f"{args.store}/{index['shards'][e['shard']]['file']}"
            xs.append(tensor(shard, f"c{e['zoo']}/{e['model']}/{e['epoch']}").astype(np.float64)); epochs.append(e['epoch'])
        return np.stack(xs), np.array(epochs)                    # (C, N, d_t)
    train, _ = load('train'); val, val_epochs = load('validation')
    C, N, D = train.shape
    layers = layer_sizes(args.checkpoint, D)
    assert sum(t for _, t in layers) == N, f'layers give {sum(t for _, t in layers)} tokens, the store {N}'
    mt, mv = (train != 0).astype(np.float64), (val != 0).astype(np.float64)
    ybar = float((mv * val).sum() / mv.sum())
    ks = [int(k) for k in args.ks.split(',')]
    out = {'store': args.store, 'trainCheckpoints': C, 'validationCheckpoints': len(val), 'tokens': N, 'tokenSize': D,
           'realEntries': int(mv[0].sum())}

    def pca_r2(fit, test, mtest, k):
        X = fit.reshape(-1, D); mu = X.mean(0)
        _, _, vt = np.linalg.svd(X - mu, full_matrices=False)
        V = vt[:k].T
        T = test.reshape(-1, D)
        pred = (((T - mu) @ V) @ V.T + mu).reshape(test.shape)
        return pred * mtest                                       # padding stays padding
    out['mean'] = r2(np.broadcast_to(train.mean(0), val.shape) * mv, val, mv, ybar)
    out['global'] = {k: r2(pca_r2(train, val, mv, k), val, mv, ybar) for k in ks}
    out['layer'] = {}
    for k in ks:
        pred, start = np.zeros_like(val), 0
        for _, t in layers:
            pred[:, start:start + t] = pca_r2(train[:, start:start + t], val[:, start:start + t], mv[:, start:start + t], k)
            start += t
        out['layer'][k] = r2(pred, val, mv, ybar)
        if k == 128:
            out['layer128ByEpoch'] = {int(e): r2(pred[val_epochs == e], val[val_epochs == e], mv[val_epochs == e], ybar)
                                      for e in sorted(set(val_epochs))}
            widths, start = {}, 0
            for name, t in layers:                               # share of entries and R² by token fill
                fill = int(mv[0, start:start + t].sum(1).max())
                w = widths.setdefault(fill, [0, 0.0, 0.0])
                s = slice(start, start + t)
                w[0] += int(mv[:, s].sum()); w[1] += float((mv[:, s] * (pred[:, s] - val[:, s]) ** 2).sum())
                w[2] += float((mv[:, s] * (val[:, s] - ybar) ** 2).sum()); start += t
            out['layer128ByTokenFill'] = {f: {'entryShare': w[0] / mv.sum(), 'r2': 1 - w[1] / w[2]} for f, w in sorted(widths.items())}
    text = json.dumps(out, indent=1)
    print(text)
    if args.json: open(args.json, 'w').write(text + '\n')

if __name__ == '__main__':
    main()
