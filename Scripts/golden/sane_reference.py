# A PyTorch reimplementation of the SANE autoencoder and its loss (SANE-SPEC §4–§5), written from
# the spec, independently of the Swift code. Shared by Scripts/golden/make_sane_golden.py (reference
# values for Tests/SaneTests) and Scripts/bench/pytorch_sane_step.py (the PyTorch side of the
# benchmark). Module attribute names reproduce the dotted state-dict names of the Swift
# `SANEModel.namedState()` (`position.n.weight`, `encoder.0.attention.qkv.weight`,
# `projectionHead.1.bias`, …), so parameters can be exchanged by name.
#
#   encoder: T [B,T,d_t] → Linear(d_t→d, bias) + PosEmb(P) → blocks → Linear(d→d_z, bias) = z
#   decoder: z → Linear(d_z→d, bias) + PosEmb(P) → blocks → Linear(d→d_t, bias) = T̂
#   PosEmb(n, l, k) = concat(E_n[n] + E_l[l], E_k[k]), tables d/2 wide, shared by both.
#   block (pre-LN, non-causal): x += Attn(LN(x)); x += MLP(LN(x)); LN weight only, ε 1e-5;
#     attention: fused qkv Linear (no bias), softmax(QKᵀ/√d_head)V, output Linear (no bias);
#     MLP: Linear(d,4d) → GELU(erf) → Linear(4d,d), no biases.
#   head: flatten z [B, T·d_z] → Linear(→p) → LN(p, bias) → ReLU → Linear(p→p) → LN(p, bias) → ReLU
#   L = γ·NT-Xent(head(z₁), head(z₂); τ) + (1−γ)·masked MSE(T̂, T) over both views' real entries.
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm(nn.Module):
    """LayerNorm over the last axis, weight always, bias optional (ε 1e-5)."""
    def __init__(self, d, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, 1e-5)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.projection = nn.Linear(d, d, bias=False)

    def forward(self, x, key_mask=None):
        b, t, c = x.shape
        h, dh = self.heads, c // self.heads
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (a.view(b, t, h, dh).transpose(1, 2) for a in (q, k, v))   # (B, H, T, D)
        s = q @ k.transpose(-1, -2) / math.sqrt(dh)                          # (B, H, T, T)
        if key_mask is not None:
            s = s.masked_fill(key_mask[:, None, None, :] == 0, float('-inf'))
        o = torch.softmax(s, dim=-1) @ v                                     # (B, H, T, D)
        return self.projection(o.transpose(1, 2).reshape(b, t, c))


class FeedForward(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.up = nn.Linear(d, 4 * d, bias=False)
        self.down = nn.Linear(4 * d, d, bias=False)

    def forward(self, x):
        return self.down(F.gelu(self.up(x)))   # exact erf GELU


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.norm1 = LayerNorm(d, bias=False)
        self.attention = Attention(d, heads)
        self.norm2 = LayerNorm(d, bias=False)
        self.feedForward = FeedForward(d)

    def forward(self, x, key_mask=None):
        x = x + self.attention(self.norm1(x), key_mask)
        return x + self.feedForward(self.norm2(x))


class Position(nn.Module):
    def __init__(self, d, max_tokens, max_layers, max_rows):
        super().__init__()
        self.n = nn.Embedding(max_tokens, d // 2)
        self.l = nn.Embedding(max_layers, d // 2)
        self.k = nn.Embedding(max_rows, d // 2)

    def forward(self, p):   # p (B, T, 3) long → (B, T, d)
        return torch.cat([self.n(p[..., 0]) + self.l(p[..., 1]), self.k(p[..., 2])], dim=-1)


class Head(nn.Sequential):
    """Indices 0, 1, 3, 4 hold parameters (2 and 5 are the ReLUs), as in the Swift names."""
    def __init__(self, inputs, p):
        super().__init__(nn.Linear(inputs, p, bias=False), LayerNorm(p, bias=True), nn.ReLU(),
                         nn.Linear(p, p, bias=False), LayerNorm(p, bias=True), nn.ReLU())


class SANE(nn.Module):
    def __init__(self, d_t, d, heads, enc_blocks, dec_blocks, d_z, window, max_tokens, max_layers, max_rows, p=30):
        super().__init__()
        self.position = Position(d, max_tokens, max_layers, max_rows)
        self.encoderInput = nn.Linear(d_t, d)
        self.encoder = nn.ModuleList([Block(d, heads) for _ in range(enc_blocks)])
        self.encoderOutput = nn.Linear(d, d_z)
        self.decoderInput = nn.Linear(d_z, d)
        self.decoder = nn.ModuleList([Block(d, heads) for _ in range(dec_blocks)])
        self.decoderOutput = nn.Linear(d, d_t)
        self.projectionHead = Head(window * d_z, p)

    def encode(self, x, pos, key_mask=None):
        h = self.encoderInput(x) + self.position(pos)
        for blk in self.encoder:
            h = blk(h, key_mask)
        return self.encoderOutput(h)

    def decode(self, z, pos, key_mask=None):
        h = self.decoderInput(z) + self.position(pos)
        for blk in self.decoder:
            h = blk(h, key_mask)
        return self.decoderOutput(h)


def masked_mse(pred, target, mask):
    """Σ m·(ŷ − y)² / Σ m over real entries."""
    return (mask * (pred - target) ** 2).sum() / mask.sum()


def normalized_masked_mse(pred, target, mask, eps=1e-4):
    """MultiZoo loss normalization (SANE-SPEC §3): scalar mean μ and std σ of the target over real
    entries (population std, no gradient), both sides mapped x → (x − μ)/(σ + ε), masked MSE."""
    real = target[mask != 0]
    mu = real.mean()
    sigma = real.std(unbiased=False)
    return masked_mse((pred - mu) / (sigma + eps), (target - mu) / (sigma + eps), mask)


def nt_xent(a, b, tau):
    """SimCLR NT-Xent: rows of concat(a, b) [2B, F] normalized; positives i ↔ i±B; self excluded;
    cross-entropy averaged over 2B rows."""
    n = a.shape[0]
    u = F.normalize(torch.cat([a, b]), dim=1)
    s = u @ u.t() / tau
    s = s.masked_fill(torch.eye(2 * n, dtype=torch.bool), float('-inf'))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(s, target)


def sane_losses(model, x1, x2, m1, m2, p1, p2, gamma, tau, normalize=False, k1=None, k2=None):
    """Both views through encoder and decoder in one batch of 2B windows.
    Returns (total, recon, contrast, z, reconstruction)."""
    b = x1.shape[0]
    x, m, p = torch.cat([x1, x2]), torch.cat([m1, m2]), torch.cat([p1, p2])
    km = None
    if k1 is not None or k2 is not None:
        ones = torch.ones(x1.shape[:2], dtype=x1.dtype)
        km = torch.cat([k1 if k1 is not None else ones, k2 if k2 is not None else ones])
    z = model.encode(x, p, km)
    y = model.decode(z, p, km)
    recon = normalized_masked_mse(y, x, m) if normalize else masked_mse(y, x, m)
    zp = model.projectionHead(z.flatten(1))
    contrast = nt_xent(zp[:b], zp[b:], tau)
    return gamma * contrast + (1 - gamma) * recon, recon, contrast, z, y
