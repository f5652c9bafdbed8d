"""MobileNet V1 (the TF.js layers weights in $AEFLOW_HOME/assets) in PyTorch up to a tap, for the probes
of issue 14: image loading at a size, BatchNorm re-estimation on the training normals, pooled-feature
kNN, AUROC and the specificity at a sensitivity. Debian's python3-torch + numpy + PIL; not part of CI.
(Checked: a kNN (k = 2) on pooled conv_pw_11 features at 128 px gives 0.860 on val/ with ImageNet
statistics and 0.892 re-estimated, as the issue's own probe.)"""

import json, os, glob, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from PIL import Image
HOME = os.environ.get('AEFLOW_HOME', '/work/shared')
MD = f'{HOME}/assets/mobilenet_v1_1.0_224'

def load_weights():
    m = json.load(open(f'{MD}/model.json'))
    topo = m['modelTopology']; cfg = topo.get('model_config', topo)['config']['layers']
    W = {}
    for g in m['weightsManifest']:
        if not all(os.path.exists(f'{MD}/{p}') for p in g['paths']): continue
        buf = b''.join(open(f'{MD}/{p}', 'rb').read() for p in g['paths']); off = 0
        for w in g['weights']:
            n = int(np.prod(w['shape'])); W[w['name']] = np.frombuffer(buf, np.float32, n, off).reshape(w['shape']).copy(); off += 4 * n
    return cfg, W

class SamePad(nn.Module):
    def __init__(s, k, stride): super().__init__(); s.k, s.st = k, stride
    def forward(s, x):
        h = x.shape[2]; out = -(-h // s.st); tot = max((out - 1) * s.st + s.k - h, 0)
        return F.pad(x, (tot // 2, tot - tot // 2, tot // 2, tot - tot // 2))

class MobileNet(nn.Module):
    def __init__(s, tap='conv_pw_11_relu'):
        super().__init__()
        cfg, W = load_weights(); s.names = []; mods = []
        for l in cfg[1:]:
            c, n = l['class_name'], l['config']['name']
            if c == 'Conv2D':
                k = np.transpose(W[f'{n}/kernel'], (3, 2, 0, 1)); st = l['config']['strides'][0]
                conv = nn.Conv2d(k.shape[1], k.shape[0], k.shape[2], st, bias=False); conv.weight.data = torch.from_numpy(k)
                mods.append((n, nn.Sequential(SamePad(k.shape[2], st), conv)))
            elif c == 'DepthwiseConv2D':
                k = W[f'{n}/depthwise_kernel']  # [3,3,C,1]
                k = np.transpose(k, (2, 3, 0, 1)); st = l['config']['strides'][0]
                conv = nn.Conv2d(k.shape[0], k.shape[0], 3, st, groups=k.shape[0], bias=False); conv.weight.data = torch.from_numpy(np.ascontiguousarray(k))
                mods.append((n, nn.Sequential(SamePad(3, st), conv)))
            elif c == 'BatchNormalization':
                C = W[f'{n}/gamma'].shape[0]; bn = nn.BatchNorm2d(C, eps=l['config']['epsilon'], momentum=None)
                bn.weight.data = torch.from_numpy(W[f'{n}/gamma']); bn.bias.data = torch.from_numpy(W[f'{n}/beta'])
                bn.running_mean.data = torch.from_numpy(W[f'{n}/moving_mean']); bn.running_var.data = torch.from_numpy(W[f'{n}/moving_variance'])
                mods.append((n, bn))
            elif c in ('Activation', 'ReLU'):
                mods.append((n, nn.ReLU6()))
            elif c == 'ZeroPadding2D':
                p = l['config']['padding']; mods.append((n, nn.ZeroPad2d((p[1][0], p[1][1], p[0][0], p[0][1]))))
            else:
                break
            if n == tap: break
        s.seq = nn.Sequential(*[m for _, m in mods]); s.names = [n for n, _ in mods]
    def forward(s, x, start=0, stop=None):
        for m in s.seq[start:stop]: x = m(x)
        return x
    def index(s, name): return s.names.index(name)

def load_folder(folder, size):
    xs, ys = [], []
    for lab, y in (('NORMAL', 0), ('PNEUMONIA', 1)):
        for f in sorted(glob.glob(f'{folder}/{lab}/*')):
            im = Image.open(f).convert('L').resize((size, size), Image.BILINEAR)
            xs.append(np.asarray(im, np.float32) / 127.5 - 1); ys.append(y)
    x = torch.from_numpy(np.stack(xs))[:, None].repeat(1, 3, 1, 1)
    return x, np.array(ys)

def cached(size):
    p = f"{os.environ.get('AEFLOW_PROBE_CACHE', '/tmp')}/aeflow-probe-data-{size}.pt"
    if os.path.exists(p): return torch.load(p)
    tr, ytr = load_folder(f'{HOME}/data/chest-xray/train', size)
    va, yva = load_folder(f'{HOME}/data/chest-xray/val', size)
    d = dict(train=tr[ytr == 0], trainP=tr[ytr == 1], val=va, yval=yva)
    torch.save(d, p); return d

def auroc(s, y):
    s = np.asarray(s, float); pos = s[y == 1][:, None]; neg = s[y == 0][None]
    return ((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size)
    n1 = (y == 1).sum(); n0 = (y == 0).sum()
    return (r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)

def knn_score(mem, q, k=2):
    mem = F.normalize(mem, dim=1); q = F.normalize(q, dim=1)
    d = torch.cdist(q, mem); return d.topk(k, largest=False).values.mean(1).numpy()

@torch.no_grad()
def feats(net, x, bs=64, start=0, stop=None, pool=True):
    out = []
    for i in range(0, len(x), bs):
        f = net(x[i:i + bs], start, stop); out.append(f.mean((2, 3)) if pool else f)
    return torch.cat(out)

def reestimate_bn(net, x, bs=64, stop=None):
    """Cumulative BN statistics (momentum=None) on x, then eval."""
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d): m.reset_running_stats()
    net.train()
    with torch.no_grad():
        for i in range(0, len(x), bs): net(x[i:i + bs], 0, stop)
    net.eval()

def spe_at_sen(s, y, sen=0.91):
    s = np.asarray(s, float); pos = np.sort(s[y == 1]); k = int(np.floor((1 - sen) * len(pos)))
    thr = pos[k]  # flag >= thr keeps >= sen of positives
    return round(float((s[y == 0] < thr).mean()), 3), round(float((s[y == 1] >= thr).mean()), 3)

def blob(n, S, g):
    """A soft ellipse per image, [n, 1, S, S]: centre within the lungs' span, radii 8-20 % of the side (seeded by g)."""
    yy, xx = torch.meshgrid(torch.arange(S).float(), torch.arange(S).float(), indexing='ij')
    u = lambda lo, hi: torch.empty(n).uniform_(lo, hi, generator=g) * S
    cy, cx, sy, sx = u(0.25, 0.75), u(0.2, 0.8), u(0.08, 0.2), u(0.08, 0.2)
    return torch.exp(-(((yy - cy[:, None, None]) / sy[:, None, None]) ** 2 + ((xx - cx[:, None, None]) / sx[:, None, None]) ** 2))[:, None]

def nsa_blend(x, g):
    """aeflow's synthetic anomaly (NSA-style): a soft ellipse of another normal of the batch, shifted, blended in."""
    n, _, S, _ = x.shape
    shift = torch.randint(-S // 4, S // 4 + 1, (2,), generator=g)
    src = torch.roll(x[torch.randperm(n, generator=g)], (int(shift[0]), int(shift[1])), (2, 3))
    m = (blob(n, S, g) * 1.5).clamp(max=1)
    return x * (1 - m) + src * m

def jitter(xb, g):
    """aeflow's brightness/contrast jitter of the head's training batches."""
    k = torch.empty(len(xb), 1, 1, 1).uniform_(0.9, 1.1, generator=g); b = torch.empty(len(xb), 1, 1, 1).uniform_(-0.1, 0.1, generator=g)
    return (xb * k + b).clamp(-1, 1)

def split_for(d, split):
    """(training normals, scored images, labels): 'val' fits all training normals and scores val/;
    'carved' fits 80 % of them (seeded) and scores the other 20 % against 400 training pneumonias."""
    X = d['train']
    if split == 'val': return X, d['val'], d['yval']
    gsplit = torch.Generator().manual_seed(1234)
    perm = torch.randperm(len(X), generator=gsplit); cut = len(X) // 5
    held, X = X[perm[:cut]], X[perm[cut:]]
    pn = d['trainP'][torch.randperm(len(d['trainP']), generator=gsplit)[:400]]
    return X, torch.cat([held, pn]), np.r_[np.zeros(len(held)), np.ones(len(pn))]
