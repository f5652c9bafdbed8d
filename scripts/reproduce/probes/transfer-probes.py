#!/usr/bin/env python3
"""Which detector on frozen MobileNet features transfers to the official test distribution?
Reads folders written by dump-features.mjs with `--val official` (train = the carved training
normals, val = val/: 20 % of the official Kermany test split, n = 125; test = the carved 320
reported images of train/) — one folder per encoder setting (e.g. ImageNet BatchNorm statistics vs
statistics re-estimated on the training normals) — and prints, per detector and folder, the AUROC
with its 95 % DeLong CI on val/ and on the carved split, and DeLong's paired test against the first
folder's kNN on the same images. Any choice (the flow's epoch) is made on val/: its val/ number is
then optimistic and marked so. numpy + Debian's python3-torch; not part of CI.

    python3 scripts/reproduce/probes/transfer-probes.py --size 128 pretrained=/tmp/f/pre train-normals=/tmp/f/bn
"""
import argparse, json, math, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument('folders', nargs='+', help='label=folder')
p.add_argument('--size', type=int, default=128)
p.add_argument('--tap', default='conv_pw_11_relu')
p.add_argument('--threads', type=int, default=2)
p.add_argument('--epochs', type=int, default=6)
p.add_argument('--out', help='also write the table (markdown) here')
a = p.parse_args()
torch.set_num_threads(a.threads)


def load(folder):
    out = {}
    for part in ['train', 'val', 'test']:
        meta = json.load(open(f'{folder}/{part}-{a.size}.json'))
        x = np.fromfile(f'{folder}/{part}-{a.tap}-{a.size}.f32', dtype=np.float32).reshape([meta['n']] + meta['shapes'][a.tap])
        out[part] = (x, np.array(meta['labels']), meta['ids'])
    return out


def placements(s, y):
    """DeLong's structural components (Sun & Xu's fast form via midranks)."""
    s = np.asarray(s, float)
    pos, neg = s[y == 1], s[y == 0]
    m, n = len(pos), len(neg)
    def midrank(x):
        order = np.argsort(x, kind='mergesort')
        r = np.empty(len(x))
        xs = x[order]
        i = 0
        while i < len(x):
            j = i
            while j + 1 < len(x) and xs[j + 1] == xs[i]:
                j += 1
            r[order[i:j + 1]] = (i + j) / 2 + 1
            i = j + 1
        return r
    tx, ty, tz = midrank(pos), midrank(neg), midrank(np.concatenate([pos, neg]))
    auc = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:m] - tx) / n
    v01 = 1 - (tz[m:] - ty) / m
    return auc, v10, v01


def delong(s, y):
    auc, v10, v01 = placements(s, y)
    var = np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01)
    se = math.sqrt(var)
    return auc, auc - 1.959964 * se, auc + 1.959964 * se


def delong_paired(sa, sb, y):
    a1, a10, a01 = placements(sa, y)
    b1, b10, b01 = placements(sb, y)
    s10 = np.cov(np.stack([a10, b10]))
    s01 = np.cov(np.stack([a01, b01]))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / len(a10) + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / len(a01)
    if var <= 0:
        return a1 - b1, 1.0
    z = (a1 - b1) / math.sqrt(var)
    return a1 - b1, math.erfc(abs(z) / math.sqrt(2))


unit = lambda g: g / np.linalg.norm(g, axis=-1, keepdims=True)
l2pos = lambda x: np.sqrt(x.shape[-1]) * x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-6)


def knn(memory, queries, k=5):
    d2 = (queries ** 2).sum(1)[:, None] + (memory ** 2).sum(1)[None] - 2 * queries @ memory.T
    return np.sort(np.sqrt(np.maximum(d2, 0)), 1)[:, :k].mean(1)


class Block(nn.Module):
    """The cpu preset's flow block (AllInOne: coupling with conv subnet, soft clamp 2, global affine, reverse permutation)."""
    def __init__(self, c, hidden):
        super().__init__()
        self.c1, self.c2 = c - c // 2, c // 2
        self.net = nn.Sequential(nn.Conv2d(self.c1, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, 2 * self.c2, 1))
        self.gamma = nn.Parameter(torch.full((c,), 2 * np.log(np.exp(5.0) - 1)))
        self.offset = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        x1, x2 = x[:, :self.c1], x[:, self.c1:]
        h = 0.1 * self.net(x1)
        j = 2 * torch.tanh(h[:, :self.c2] / 2)
        y = torch.cat([x1, x2 * torch.exp(j) + h[:, self.c2:]], 1)
        scale = 0.1 * F.softplus(self.gamma, beta=0.5)
        y = y * scale[None, :, None, None] + self.offset[None, :, None, None]
        return torch.flip(y, [1]), j.sum((1, 2, 3)) + y.shape[2] * y.shape[3] * torch.log(scale).sum()


def flow_scores(d, norm, noise, yv):
    """Trains the flow on the training normals; epoch chosen on val/ by the density score's AUROC."""
    torch.manual_seed(0)
    prep = (lambda x: l2pos(x)) if norm == 'l2' else (lambda x: x)
    nchw = lambda x: torch.tensor(np.ascontiguousarray(prep(x).transpose(0, 3, 1, 2)))
    T, V, E = nchw(d['train'][0]), nchw(d['val'][0]), nchw(d['test'][0])
    blocks = nn.ModuleList([Block(T.shape[1], 64) for _ in range(4)])
    opt = torch.optim.Adam(blocks.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    def fwd(x):
        ld = 0
        for b in blocks:
            x, l = b(x)
            ld = ld + l
        return x, ld
    def latent(X):
        with torch.no_grad():
            return torch.cat([fwd(X[i:i + 64])[0] for i in range(0, len(X), 64)])
    best = (-1, None, 0)
    for epoch in range(a.epochs):
        for idx in torch.randperm(len(T), generator=gen).split(16):
            xb = T[idx] + noise * torch.randn(T[idx].shape, generator=gen)
            y, ld = fwd(xb)
            loss = ((0.5 * (y ** 2).flatten(1).sum(1) - ld) / y[0].numel()).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        zv = latent(V)
        # density score as the model's: −exp(mean log N) is monotone in the mean z²
        v = placements((zv ** 2).mean((1, 2, 3)).numpy(), yv)[0]
        if v > best[0]:
            best = (v, {k: t.clone() for k, t in blocks.state_dict().items()}, epoch + 1)
    blocks.load_state_dict(best[1])
    zt, zv, ze = latent(T), latent(V), latent(E)
    dens = lambda z: (z ** 2).mean((1, 2, 3)).numpy()
    Zt = zt.mean((2, 3)).numpy()
    return best[2], {'density': (dens(zv), dens(ze)), 'zknn': (knn(Zt, zv.mean((2, 3)).numpy()), knn(Zt, ze.mean((2, 3)).numpy()))}


rows = []
base = None
for spec in a.folders:
    label, folder = spec.split('=', 1)
    d = load(folder)
    yv, yt = d['val'][1], d['test'][1]
    P = unit(d['train'][0].mean((1, 2)))
    results = [(f'kNN (k = 5) on pooled features', knn(P, unit(d['val'][0].mean((1, 2)))), knn(P, unit(d['test'][0].mean((1, 2)))), False)]
    t0 = time.time()
    for norm, noise in [('none', 0.0), ('l2', 0.1)]:
        ep, s = flow_scores(d, norm, noise, yv)
        what = 'flow (cpu preset)' if norm == 'none' else 'flow, L2 + noise 0.1'
        results.append((f'{what}: density, epoch {ep} of {a.epochs} chosen on val/', *s['density'], True))
        results.append((f'{what}: kNN on pooled z′, same epoch', *s['zknn'], True))
    print(f'{label}: flows trained in {time.time() - t0:.0f} s', flush=True)
    if base is None:
        base = (results[0][1], results[0][2])
    for name, sv, se, chosen in results:
        v, t = delong(sv, yv), delong(se, yt)
        pv, pt = delong_paired(sv, base[0], yv), delong_paired(se, base[1], yt)
        rows.append((label, name, v, pv, t, pt, chosen))
        print(f'{label} | {name}: val/ {v[0]:.3f} ({v[1]:.3f}–{v[2]:.3f}) Δ {pv[0]:+.3f} p {pv[1]:.3f} | carved {t[0]:.3f} Δ {pt[0]:+.3f} p {pt[1]:.3f}', flush=True)

fmt = lambda c: f'{c[0]:.3f} ({c[1]:.3f}–{c[2]:.3f})'
fp = lambda d: '–' if abs(d[0]) < 1e-12 and d[1] == 1.0 else f'{d[0]:+.3f} (p = {"< 0.001" if d[1] < 0.001 else f"{d[1]:.3f}"})'
table = [f'| encoder BatchNorm | detector ({a.size} px, {a.tap}) | val/ AUROC (95 % CI), n = 125 | Δ vs first kNN, paired DeLong | carved split AUROC (95 % CI), n = 320 | Δ vs first kNN |', '|---|---|---|---|---|---|']
for label, name, v, pv, t, pt, chosen in rows:
    table.append(f'| {label} | {name} | {fmt(v)}{" †" if chosen else ""} | {fp(pv)} | {fmt(t)} | {fp(pt)} |')
print('\n' + '\n'.join(table))
if a.out:
    open(a.out, 'w').write('\n'.join(table) + '\n\n† the flow\'s epoch was chosen on val/ itself (by the density score): that val/ number is optimistic.\n')
