#!/usr/bin/env python3
"""Density models and nearest neighbours on frozen chest X-ray features: how far can a model of
the features get, next to the kNN bar? Reads what dump-features.mjs wrote; numpy and PyTorch
(Debian's python3-torch). Not part of CI. Every number is an AUROC on the 320 reported images,
with any choice (epoch, weight) made on the 80-image validation part.

    python3 scripts/reproduce/probes/probes.py --features /tmp/aeflow-probes --size 224 [--threads 2]
"""
import argparse, json, re, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument('--features', required=True)
p.add_argument('--size', type=int, default=128)
p.add_argument('--threads', type=int, default=1)
p.add_argument('--epochs', type=int, default=15)
p.add_argument('--out', help='also write the table (markdown) here; report.mjs puts runs/repro/feature-probes-<size>.md into docs/RESULTS.md')
p.add_argument('--scores', help='also write every probe\'s reported-part scores here (JSON), e.g. for a paired test')
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


def load(tap):
    out = {}
    for part in ['train', 'val', 'test']:
        meta = json.load(open(f'{a.features}/{part}-{a.size}.json'))
        x = np.fromfile(f'{a.features}/{part}-{tap}-{a.size}.f32', dtype=np.float32).reshape([meta['n']] + meta['shapes'][tap])
        out[part] = (x, np.array(meta['labels']), meta['ids'])
    return out


def auroc(s, y):
    """Mann–Whitney with average ranks for ties (= scikit-learn's roc_auc_score)."""
    s = np.asarray(s, float)
    order = np.argsort(s, kind='mergesort')
    ranks = np.empty(len(s))
    ss = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and ss[j + 1] == ss[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n1, n0 = (y == 1).sum(), (y == 0).sum()
    return (ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


d = load('conv_pw_11_relu')
tr, (va, yv, _), (te, yt, _) = d['train'][0], d['val'], d['test']
rows = []


scores = {}


def report(name, val_scores, test_scores):
    rows.append((name, auroc(val_scores, yv), auroc(test_scores, yt)))
    scores[name] = [float(v) for v in test_scores]
    print(f'{name}: val {rows[-1][1]:.3f} test {rows[-1][2]:.3f}', flush=True)


unit = lambda g: g / np.linalg.norm(g, axis=-1, keepdims=True)
l2pos = lambda x: np.sqrt(x.shape[-1]) * x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-6)


def knn(memory, queries, k=5):
    dist = np.sqrt(np.maximum(((queries[:, None] - memory[None]) ** 2).sum(-1), 0))
    return np.sort(dist, 1)[:, :k].mean(1)


def gaussian(train, shrink=0.1):
    mu = train.mean(0)
    cov = np.cov(train.T)
    cov += shrink * np.trace(cov) / cov.shape[0] * np.eye(cov.shape[0])
    inv = np.linalg.inv(cov)
    return lambda x: np.einsum('ij,jk,ik->i', x - mu, inv, x - mu)


# 1. The bar and pooled densities
pooled = lambda x: x.mean((1, 2))
P = unit(pooled(tr))
kv, ke = knn(P, unit(pooled(va))), knn(P, unit(pooled(te)))
report('kNN (k = 5) on pooled features (the bar)', kv, ke)
g = gaussian(np.sqrt(pooled(tr)))
gv, ge = g(np.sqrt(pooled(va))), g(np.sqrt(pooled(te)))
report('Gaussian on pooled √features', gv, ge)

# 2. One Gaussian per position, on L2-normalised features
def per_position(T, V, E):
    sv, se = np.zeros(len(V)), np.zeros(len(E))
    for i in range(T.shape[1]):
        for j in range(T.shape[2]):
            m = gaussian(T[:, i, j])
            sv += m(V[:, i, j])
            se += m(E[:, i, j])
    return sv, se

pv, pe = per_position(unit(tr), unit(va), unit(te))
report('Gaussian per position, L2-normalised features', pv, pe)

# 3. Both Gaussians, weighted on validation
z = lambda s, ref: (s - ref.mean()) / ref.std()
best = max(((w, auroc(w * z(pv, pv[yv == 0]) + (1 - w) * z(gv, gv[yv == 0]), yv)) for w in np.linspace(0, 1, 11)), key=lambda t: t[1])[0]
report(f'per-position + pooled Gaussian (weight {best:.1f} on val)', best * z(pv, pv[yv == 0]) + (1 - best) * z(gv, gv[yv == 0]), best * z(pe, pv[yv == 0]) + (1 - best) * z(ge, gv[yv == 0]))

# 4. Multi-layer: conv_pw_5 averaged 2×2 onto the conv_pw_11 grid, both L2-normalised, per position
d5 = load('conv_pw_5_relu')
pool2 = lambda x: x.reshape(x.shape[0], x.shape[1] // 2, 2, x.shape[2] // 2, 2, x.shape[3]).mean((2, 4))
both = lambda part, x: np.concatenate([unit(x), unit(pool2(d5[part][0]))], -1)
mv, me = per_position(both('train', tr), both('val', va), both('test', te))
report('Gaussian per position, conv_pw_11 + conv_pw_5', mv, me)


# 5. The cpu preset's flow (4 AllInOne blocks, conv subnet width 64, soft clamp 2, reverse
# permutation), trained on L2-normalised features with input noise 0.1, Adam lr 1e-3, batch 16
class Block(nn.Module):
    def __init__(self, c, hidden):
        super().__init__()
        self.c1, self.c2 = c - c // 2, c // 2
        self.net = nn.Sequential(nn.Conv2d(self.c1, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, 2 * self.c2, 1))
        self.gamma = nn.Parameter(torch.full((c,), 2 * np.log(np.exp(5.0) - 1)))  # 0.1·softplus_β=0.5(γ) = 1
        self.offset = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        x1, x2 = x[:, :self.c1], x[:, self.c1:]
        h = 0.1 * self.net(x1)
        j = 2 * torch.tanh(h[:, :self.c2] / 2)
        y = torch.cat([x1, x2 * torch.exp(j) + h[:, self.c2:]], 1)
        scale = 0.1 * F.softplus(self.gamma, beta=0.5)
        y = y * scale[None, :, None, None] + self.offset[None, :, None, None]
        return torch.flip(y, [1]), j.sum((1, 2, 3)) + y.shape[2] * y.shape[3] * torch.log(scale).sum()


def flow_forward(blocks, x):
    logdet = 0
    for b in blocks:
        x, l = b(x)
        logdet = logdet + l
    return x, logdet


nchw = lambda x: torch.tensor(np.ascontiguousarray(l2pos(x).transpose(0, 3, 1, 2)))
T, V, E = nchw(tr), nchw(va), nchw(te)
blocks = nn.ModuleList([Block(T.shape[1], 64) for _ in range(4)])
opt = torch.optim.Adam(blocks.parameters(), lr=1e-3)
gen = torch.Generator().manual_seed(0)


def latent(X):
    with torch.no_grad():
        return torch.cat([flow_forward(blocks, X[i:i + 64])[0] for i in range(0, len(X), 64)])


t0 = time.time()
best_state, best_val = None, -1
for epoch in range(a.epochs):
    for idx in torch.randperm(len(T), generator=gen).split(16):
        xb = T[idx] + 0.1 * torch.randn(T[idx].shape, generator=gen)
        y, logdet = flow_forward(blocks, xb)
        loss = ((0.5 * (y ** 2).flatten(1).sum(1) - logdet) / y[0].numel()).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    v = auroc((latent(V) ** 2).mean((1, 2, 3)).numpy(), yv)
    if v > best_val:
        best_val, best_state, best_epoch = v, {k: t.clone() for k, t in blocks.state_dict().items()}, epoch + 1
blocks.load_state_dict(best_state)
zv, ze, zt = latent(V), latent(E), latent(T)
fv, fe = (zv ** 2).mean((1, 2, 3)).numpy(), (ze ** 2).mean((1, 2, 3)).numpy()
report(f'flow (cpu preset) on L2-normalised features + noise 0.1, epoch {best_epoch} of {a.epochs} by val ({time.time() - t0:.0f} s)', fv, fe)

# 6. kNN on the flow's latent, pooled (not normalised: the latent is already standardised)
Zt = zt.mean((2, 3)).numpy()
report('kNN (k = 5) on the flow\'s pooled z′', knn(Zt, zv.mean((2, 3)).numpy()), knn(Zt, ze.mean((2, 3)).numpy()))

# 7. Flow score and the bar together, weighted on validation
best = max(((w, auroc(w * z(fv, fv[yv == 0]) + (1 - w) * z(kv, kv[yv == 0]), yv)) for w in np.linspace(0, 1, 11)), key=lambda t: t[1])[0]
report(f'flow + kNN (weight {best:.1f} on val)', best * z(fv, fv[yv == 0]) + (1 - best) * z(kv, kv[yv == 0]), best * z(fe, fv[yv == 0]) + (1 - best) * z(ke, kv[yv == 0]))

# 8. Is the bar patient leakage? Held-out normals whose image id (IM-xxxx) also has a training image
group = lambda i: re.sub(r'-\d+\.jpe?g$', '', i.split('/')[-1])
in_train = {group(i) for i in d['train'][2]}
sibling = np.array([group(i) in in_train for i in d['test'][2]])
keep = ~(sibling & (yt == 0))
print(f'\nheld-out normals with a sibling image in training: {(sibling & (yt == 0)).sum()} of {(yt == 0).sum()}; '
      f'kNN AUROC without them {auroc(ke[keep], yt[keep]):.3f} (with: {auroc(ke, yt):.3f})')

if a.scores:
    json.dump({'labels': [int(v) for v in yt], 'ids': d['test'][2], 'scores': scores}, open(a.scores, 'w'))
table = [f'| probe ({a.size} px, conv_pw_11_relu unless said) | val AUROC | reported AUROC |', '|---|---|---|']
table += [f'| {name} | {v:.3f} | {t:.3f} |' for name, v, t in rows]
print('\n' + '\n'.join(table))
if a.out:
    leak = (f'Held-out normals with a sibling image (same IM-xxxx id) in training: {(sibling & (yt == 0)).sum()} of {(yt == 0).sum()}; '
            f'the bar without them: {auroc(ke[keep], yt[keep]):.3f} (with them: {auroc(ke, yt):.3f}).')
    open(a.out, 'w').write('\n'.join(table) + '\n\n' + leak + '\n')
