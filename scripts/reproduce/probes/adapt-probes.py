#!/usr/bin/env python3
"""Issue 14's encoder-adaptation levers, probed in PyTorch before building any in aeflow: MobileNet V1
at 128 px with BatchNorm statistics re-estimated on all 1341 training normals; the blocks from
--start (default conv_dw_10) to conv_pw_11 fine-tuned (BatchNorm affine frozen) or kept frozen
(--frozen); after every pass over the training normals, the AUROC on val/ (20 % of the official test
split, n = 125) of
  knn   a kNN (k = 2) on the pooled, L2-normalised conv_pw_11 features (memory: the training normals),
  head  (synthetic objectives) the logit of the normal-vs-synthetic head,
  sum   the two, each standardised over val/ (a probe: the product standardises on the training
        normals instead), and its specificity at sensitivity ≥ 0.91.
Every pass is printed, so any epoch picked from this output is picked on val/ (optimistic).

Objectives (--objective):
  panda     compactness of the pooled features around their pretrained centre (Reiss et al. 2021)
  msc       mean-shifted contrastive on two augmented views + angular centre term (Reiss & Hoshen 2023)
  opacity   head: normal vs a smooth brighter textured blob (a hand-made "opacity")
  nsa       head: normal vs a soft ellipse of another normal image, shifted, blended in (NSA-style,
            Schlüter et al. 2022) — what aeflow's score.synthetic 'nsa' builds on (with --frozen)

    /usr/bin/python3 scripts/reproduce/probes/adapt-probes.py --objective nsa --frozen --lr 1e-3 --epochs 3
"""
import argparse, os, sys, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mobilenet_torch import MobileNet, auroc, cached, feats, knn_score, reestimate_bn, spe_at_sen

p = argparse.ArgumentParser()
p.add_argument('--objective', choices=['panda', 'msc', 'opacity', 'nsa'], required=True)
p.add_argument('--start', default='conv_dw_10')
p.add_argument('--lr', type=float, default=1e-4)
p.add_argument('--epochs', type=int, default=5)
p.add_argument('--frozen', action='store_true', help='train only the head (synthetic objectives)')
p.add_argument('--threads', type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads); torch.manual_seed(0)
d = cached(128); yv = d['yval']
net = MobileNet().eval(); reestimate_bn(net, d['train'])
s0 = net.index(a.start)
for q in net.seq[:s0].parameters(): q.requires_grad_(False)
for m in net.seq[s0:].modules():
    if isinstance(m, nn.BatchNorm2d): m.weight.requires_grad_(False); m.bias.requires_grad_(False)
head = nn.Linear(512, 1)
synthetic = a.objective in ('opacity', 'nsa')
tail = [] if a.frozen else [q for q in net.seq[s0:].parameters() if q.requires_grad]
params = tail + (list(head.parameters()) if synthetic else [])
z = lambda s: (s - s.mean()) / s.std()


@torch.no_grad()
def evaluate():
    net.eval(); mem = feats(net, d['train']); q = feats(net, d['val'])
    kn = knn_score(mem, q, 2); out = {'knn': round(auroc(kn, yv), 4)}
    if synthetic:
        hd = head(q).squeeze(1).numpy(); out['head'] = round(auroc(hd, yv), 4)
        out['sum'] = round(auroc(z(kn) + z(hd), yv), 4); out['spe@sen0.91'] = spe_at_sen(z(kn) + z(hd), yv)[0]
    return out, mem


def blob(n, S, smin, smax):
    yy, xx = torch.meshgrid(torch.arange(S).float(), torch.arange(S).float(), indexing='ij')
    cy = torch.empty(n).uniform_(0.25, 0.75) * S; cx = torch.empty(n).uniform_(0.2, 0.8) * S
    sy = torch.empty(n).uniform_(smin, smax) * S; sx = torch.empty(n).uniform_(smin, smax) * S
    return torch.exp(-(((yy - cy[:, None, None]) / sy[:, None, None]) ** 2 + ((xx - cx[:, None, None]) / sx[:, None, None]) ** 2))[:, None]


def make_synthetic(x):
    n, _, S, _ = x.shape
    if a.objective == 'opacity':
        tex = F.interpolate(torch.rand(n, 1, 8, 8), size=(S, S), mode='bilinear', align_corners=False)
        return (x + torch.empty(n, 1, 1, 1).uniform_(0.15, 0.5) * blob(n, S, 0.06, 0.2) * (0.5 + tex)).clamp(-1, 1)
    shift = torch.randint(-S // 4, S // 4 + 1, (2,))
    src = torch.roll(x[torch.randperm(n)], (int(shift[0]), int(shift[1])), (2, 3))
    m = (blob(n, S, 0.08, 0.2) * 1.5).clamp(max=1)
    return x * (1 - m) + src * m


def jitter(x):  # brightness / contrast, and for msc a small random affine
    k = torch.empty(len(x), 1, 1, 1).uniform_(0.9, 1.1); b = torch.empty(len(x), 1, 1, 1).uniform_(-0.1, 0.1)
    if a.objective == 'msc':
        n = len(x); s = torch.empty(n).uniform_(0.8, 1.0); r = torch.empty(n).uniform_(-0.17, 0.17)
        th = torch.zeros(n, 2, 3); th[:, 0, 0] = s * torch.cos(r); th[:, 0, 1] = -s * torch.sin(r); th[:, 1, 0] = s * torch.sin(r); th[:, 1, 1] = s * torch.cos(r)
        th[:, :, 2] = torch.empty(n, 2).uniform_(-0.1, 0.1)
        x = F.grid_sample(x, F.affine_grid(th, x.shape, align_corners=False), padding_mode='border', align_corners=False)
    return (x * k + b).clamp(-1, 1)


first, mem0 = evaluate(); centre = F.normalize(mem0, dim=1).mean(0)
print(a.objective, a.start, 'frozen' if a.frozen else 'fine-tuned', a.lr, 'pass 0', first, flush=True)
opt = torch.optim.Adam(params, lr=a.lr) if synthetic else torch.optim.SGD(params, lr=a.lr, momentum=0.9, weight_decay=5e-5)
n = len(d['train'])
for ep in range(1, a.epochs + 1):
    t = time.time(); perm = torch.randperm(n); net.eval()
    for i in range(0, n - 31, 32):
        xb = d['train'][perm[i:i + 32]]
        if synthetic:
            xb = jitter(xb); both = torch.cat([xb, make_synthetic(xb)])
            with torch.no_grad(): h = net(both, 0, s0)
            logits = head(net(h, s0).mean((2, 3))).squeeze(1)
            loss = F.binary_cross_entropy_with_logits(logits, torch.cat([torch.zeros(len(xb)), torch.ones(len(xb))]))
        elif a.objective == 'panda':
            with torch.no_grad(): h = net(xb, 0, s0)
            loss = ((F.normalize(net(h, s0).mean((2, 3)), dim=1) - centre) ** 2).sum(1).mean()
        else:
            with torch.no_grad(): h1 = net(jitter(xb), 0, s0); h2 = net(jitter(xb), 0, s0)
            z1 = F.normalize(net(h1, s0).mean((2, 3)), dim=1); z2 = F.normalize(net(h2, s0).mean((2, 3)), dim=1)
            u = torch.cat([F.normalize(z1 - centre, dim=1), F.normalize(z2 - centre, dim=1)])
            sim = u @ u.T / 0.25; sim.fill_diagonal_(-1e9); B = len(z1)
            loss = F.cross_entropy(sim, torch.cat([torch.arange(B, 2 * B), torch.arange(B)])) - 0.1 * ((z1 * centre).sum(1).mean() + (z2 * centre).sum(1).mean())
        opt.zero_grad(); loss.backward(); opt.step()
    print('pass', ep, evaluate()[0], 'loss', round(loss.item(), 4), f'{time.time() - t:.0f} s', flush=True)
