# Writes the PyTorch reference values for Tests/SaneTests/SANEGoldenTests.swift into
# Tests/SaneTests/Golden/. Run from anywhere:
#   python3 Scripts/golden/make_sane_golden.py
# Tests never run Python; they only read the committed files.
#
# The model is Scripts/golden/sane_reference.py, a reimplementation of SANE-SPEC §4–§5 from the
# spec; its parameter names are the Swift `SANEModel.namedState()` names. Parameters are random
# with std 0.3 (LayerNorm weights 1 + 0.3·N) instead of the 0.02 init so that every path matters.
# Values are computed in float64 and stored as float32.
#
# sane_step.safetensors       standardize case: masked MSE, no key mask
# sane_step_norm.safetensors  lossNormalization case (normalized masked MSE) with key masks
#   param.<name>   every parameter          tokens1/2, mask1/2 [B,T,d_t]; positions1/2 [B,T,3] (float)
#   keyMask1/2 [B,T] (norm case only)       config [11]: see CONFIG below
#   z [2B,T,d_z]   reconstruction [2B,T,d_t]   loss.recon / loss.contrast / loss.total []
#   grad.<name>    d loss.total / d parameter
# block.safetensors           one TransformerBlock (d 12, 3 heads) with a key mask:
#   input [2,6,12], keyMask [2,6], seed [2,6,12] (upstream gradient), param.<name>, output,
#   grad.input, grad.<name>
import os, sys
import torch

sys.dont_write_bytecode = True   # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sane_reference import SANE, Block, LayerNorm, sane_losses
from safetensors_writer import save_safetensors

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'Tests', 'SaneTests', 'Golden')
torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)

# d_t, d_model, heads, enc blocks, dec blocks, d_z, window, maxTokens, maxLayers, maxRows, projection
CONFIG = dict(d_t=13, d=16, heads=2, enc_blocks=1, dec_blocks=1, d_z=6, window=5,
              max_tokens=12, max_layers=4, max_rows=7, p=10)
B, GAMMA, TAU = 3, 0.05, 0.1


def save(name, tensors): save_safetensors(os.path.join(OUT, name), tensors)


def randomize(module):
    """std 0.3 everywhere; LayerNorm weights 1 + 0.3·N."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
        for m in module.modules():
            if isinstance(m, LayerNorm):
                m.weight.add_(1.0)


def sane_case(file, normalize, key_masks, seed):
    torch.manual_seed(seed)
    c = CONFIG
    model = SANE(**c)
    randomize(model)
    t, dt = c['window'], c['d_t']

    def view():
        x = torch.randn(B, t, dt)
        m = (torch.rand(B, t, dt) > 0.25).double()   # ~25 % padded entries, different per view
        p = torch.stack([torch.randint(0, c['max_tokens'], (B, t)), torch.randint(0, c['max_layers'], (B, t)),
                         torch.randint(0, c['max_rows'], (B, t))], dim=-1)
        return x, m, p
    x1, m1, p1 = view()
    x2, m2, p2 = view()
    k1 = k2 = None
    if key_masks:
        k1 = (torch.rand(B, t) > 0.3).double(); k1[:, 0] = 1   # every window keeps ≥ 1 real key
        k2 = (torch.rand(B, t) > 0.3).double(); k2[:, -1] = 1
    total, recon, contrast, z, y = sane_losses(model, x1, x2, m1, m2, p1, p2, GAMMA, TAU, normalize, k1, k2)
    total.backward()
    out = {"config": torch.tensor([c['d_t'], c['d'], c['heads'], c['enc_blocks'], c['dec_blocks'], c['d_z'],
                                   c['window'], c['max_tokens'], c['max_layers'], c['max_rows'], c['p']])}
    out.update({"param." + k: v for k, v in model.named_parameters()})
    out.update({"tokens1": x1, "tokens2": x2, "mask1": m1, "mask2": m2,
                "positions1": p1.double(), "positions2": p2.double()})
    if key_masks:
        out.update({"keyMask1": k1, "keyMask2": k2})
    out.update({"z": z, "reconstruction": y, "loss.recon": recon, "loss.contrast": contrast, "loss.total": total})
    out.update({"grad." + k: v.grad for k, v in model.named_parameters()})
    save(file, out)
    print(f"{file}: total {total.item():.6f} recon {recon.item():.6f} contrast {contrast.item():.6f}")


def block_case():
    torch.manual_seed(7)
    blk = Block(12, 3)
    randomize(blk)
    x = torch.randn(2, 6, 12, requires_grad=True)
    km = torch.tensor([[1, 1, 0, 1, 0, 1], [0, 1, 1, 1, 1, 0]], dtype=torch.float64)
    seed = torch.randn(2, 6, 12)
    y = blk(x, km)
    y.backward(seed)
    out = {"input": x, "keyMask": km, "seed": seed}
    out.update({"param." + k: v for k, v in blk.named_parameters()})
    out.update({"output": y, "grad.input": x.grad})
    out.update({"grad." + k: v.grad for k, v in blk.named_parameters()})
    save("block.safetensors", out)
    print("block.safetensors: output norm", y.norm().item())


sane_case("sane_step.safetensors", normalize=False, key_masks=False, seed=1)
sane_case("sane_step_norm.safetensors", normalize=True, key_masks=True, seed=2)
block_case()
