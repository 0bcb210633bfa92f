# Writes the PyTorch reference values for Tests/SaneNNTests (conv-family layers, optimizers,
# OneCycleLR) as safetensors files in Tests/SaneNNTests/Golden/. Run from the repository root:
#   python3 Scripts/golden/make_nn_golden.py
# Tests never run Python; they only read the committed files.
import os, sys, torch, torch.nn as nn, torch.nn.functional as F

sys.dont_write_bytecode = True   # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_writer import save_safetensors

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'Tests', 'SaneNNTests', 'Golden')
torch.set_num_threads(1)
torch.manual_seed(0)

def save(name, tensors): save_safetensors(os.path.join(OUT, name), tensors)

# (a) conv(stride 2, pad 1) → maxpool 2 → batchnorm (train) → relu → flatten → linear, CE loss.
class Stack(nn.Module):
    def __init__(s):
        super().__init__()
        s.conv = nn.Conv2d(2, 3, 3, stride=2, padding=1); s.pool = nn.MaxPool2d(2)
        s.bn = nn.BatchNorm2d(3); s.fc = nn.Linear(12, 5)
    def forward(s, x): return s.fc(torch.flatten(F.relu(s.bn(s.pool(s.conv(x)))), 1))
m = Stack()
with torch.no_grad():
    m.bn.weight.uniform_(0.5, 1.5); m.bn.bias.uniform_(-0.5, 0.5)
x = torch.randn(4, 2, 8, 8, requires_grad=True)
y = torch.tensor([0, 3, 4, 1])
init = {k: v.clone() for k, v in m.state_dict().items()}
logits = m(x); loss = F.cross_entropy(logits, y); loss.backward()
t = {"input": x, "labels": y.float()}
t.update({"init." + k: v for k, v in init.items() if k in dict(m.named_parameters())})
t.update({"logits": logits, "loss": loss.reshape([]), "grad.input": x.grad})
t.update({"grad." + k: p.grad for k, p in m.named_parameters()})
t.update({"after.bn.running_mean": m.bn.running_mean, "after.bn.running_var": m.bn.running_var})
save("conv_stack.safetensors", t)

# (b) optimizers on a small MLP (Linear 6→8, tanh, Linear 8→3), cross-entropy on fixed data.
def mlp():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
X = torch.randn(10, 6); Y = torch.randint(0, 3, (10,))
def run(name, make_opt, steps, sched=None):
    net = mlp(); opt = make_opt(net); s = sched(opt) if sched else None
    t = {"data.x": X, "data.y": Y.float()}
    t.update({"init." + k: v.clone() for k, v in net.state_dict().items()})
    for i in range(steps):
        t[f"lr.{i}"] = torch.tensor(opt.param_groups[0]['lr'])
        if 'betas' in opt.param_groups[0]: t[f"beta1.{i}"] = torch.tensor(opt.param_groups[0]['betas'][0])
        opt.zero_grad(); F.cross_entropy(net(X), Y).backward(); opt.step()
        if s: s.step()
        t.update({f"step{i}." + k: v.clone() for k, v in net.state_dict().items()})
    save(name, t)
run("sgd.safetensors", lambda n: torch.optim.SGD(n.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2), 5)
run("adam.safetensors", lambda n: torch.optim.Adam(n.parameters(), lr=1e-2, weight_decay=1e-2), 5)
def adamw(n):
    decay = [p for p in n.parameters() if p.dim() >= 2]; other = [p for p in n.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}], lr=1e-2)
run("adamw_onecycle.safetensors", adamw, 10,
    sched=lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=1e-2, total_steps=10))
print("wrote", sorted(os.listdir(OUT)))
