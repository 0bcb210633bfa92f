# Loads models written by `sane sample` (safetensors, PyTorch key names) into the zoo's PyTorch CNN
# (as ../shared/zoos/make_zoo.py defines it) and evaluates them on the MNIST test set, so the
# accuracies Sane reports can be checked in PyTorch. Needs torch and safetensors (not a project
# dependency). Usage: python3 Scripts/check/pytorch_loads_samples.py SAMPLES_DIR [DATA_DIR]
import gzip, json, os, sys
import numpy as np, torch, torch.nn as nn
from safetensors.torch import load_file

def idx(path):
    b = gzip.open(path).read(); nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], 'big') for i in range(nd)]
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)

class CNN(nn.Module):
    def __init__(s, act=nn.Tanh):
        super().__init__()
        s.module_list = nn.ModuleList([nn.Conv2d(1, 8, 5), nn.MaxPool2d(2), act(), nn.Conv2d(8, 6, 5), nn.MaxPool2d(2), act(),
                                       nn.Conv2d(6, 4, 2), act(), nn.Flatten(), nn.Linear(36, 20), act(), nn.Linear(20, 10)])
    def forward(s, x):
        for m in s.module_list: x = m(x)
        return x

folder = sys.argv[1]
data = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared', 'data')
dataset = json.load(open(os.path.join(folder, 'samples.json')))['dataset']
X = torch.tensor(idx(f'{data}/{dataset}/t10k-images-idx3-ubyte.gz')).float().div(255).unsqueeze(1)
Y = torch.tensor(idx(f'{data}/{dataset}/t10k-labels-idx1-ubyte.gz')).long()
for f in sorted(x for x in os.listdir(folder) if x.endswith('.safetensors')):
    m = CNN(); m.load_state_dict(load_file(os.path.join(folder, f))); m.eval()
    with torch.no_grad(): acc = (m(X).argmax(1) == Y).float().mean().item()
    print(f'{f}: PyTorch test accuracy {100 * acc:.2f} %')
