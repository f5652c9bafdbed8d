#!/usr/bin/env python3
"""Which synthetic anomaly the frozen head should learn from (issue 14), probed in PyTorch on both
splits at once. MobileNet V1 at 128 px, conv_pw_11, BatchNorm statistics re-estimated on the
training normals; the head is aeflow's `score.synthetic: 'nsa'` (a logistic regression on the pooled
features, Adam 1e-3, batch 32, brightness/contrast jitter, 3 passes), summed with a kNN (k = 2) on
the pooled, L2-normalised features, each standardised on the training normals (kNN by leave-one-out).
Anomalies:
  nsa      a soft ellipse of another normal of the batch, shifted, blended in (aeflow's, NSA-style)
  opacity  the same ellipse, but the image is pushed towards white inside it by 25-65 %, with a
           smooth random texture: what consolidation looks like on a radiograph (denser, whiter),
           placed where the lungs are
  mix      half of each
Two evaluations, printed side by side:
  carved   the head and the memory see 80 % of the training normals (seeded); scored: the other
           20 % (268) against 400 training pneumonias: in-distribution
  val      the head and the memory see all 1341 training normals; scored: val/ (20 % of the
           official test split, n = 125). Printed, so a choice made from it is made on val/.

    /usr/bin/python3 scripts/reproduce/probes/anomaly-probes.py --anomaly nsa opacity mix --seeds 2
"""
import argparse, os, sys, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mobilenet_torch import MobileNet, auroc, blob, cached, feats, jitter, nsa_blend as nsa, reestimate_bn, spe_at_sen, split_for

p = argparse.ArgumentParser()
p.add_argument('--anomaly', nargs='+', choices=['nsa', 'opacity', 'mix'], default=['nsa', 'opacity', 'mix'])
p.add_argument('--seeds', type=int, default=2)
p.add_argument('--passes', type=int, default=3)
p.add_argument('--splits', nargs='+', choices=['carved', 'val'], default=['carved', 'val'])
a = p.parse_args()
torch.set_num_threads(2)
d = cached(128)


def opacity(x, g):
    n, _, S, _ = x.shape
    # a smooth texture in [0.5, 1]: noise on an 8 x 8 grid, upsampled
    tex = F.interpolate(torch.rand(n, 1, 8, 8, generator=g), size=(S, S), mode='bilinear', align_corners=False) * 0.5 + 0.5
    amount = torch.empty(n, 1, 1, 1).uniform_(0.25, 0.65, generator=g)
    m = (blob(n, S, g) * 1.5).clamp(max=1) * tex * amount
    return x + (1 - x) * m  # towards white (+1)


def anomalies(kind, x, g):
    if kind == 'nsa': return nsa(x, g)
    if kind == 'opacity': return opacity(x, g)
    h = len(x) // 2
    return torch.cat([nsa(x[:h], g), opacity(x[h:], g)])


def standardise(s, ref): return (s - ref.mean()) / ref.std()


def evaluate(split):
    X, Q, y = split_for(d, split)
    net = MobileNet().eval(); reestimate_bn(net, X)
    mem = F.normalize(feats(net, X), dim=1); q = feats(net, Q)
    kn = torch.cdist(F.normalize(q, dim=1), mem).topk(2, largest=False).values.mean(1).numpy()
    dd = torch.cdist(mem, mem); dd.fill_diagonal_(float('inf')); loo = dd.topk(2, largest=False).values.mean(1).numpy()
    kz = standardise(kn, loo)
    print(f'{split}: kNN alone {auroc(kn, y):.4f}, SPE at SEN 0.91 {spe_at_sen(kn, y)[0]}', flush=True)
    n = len(X); memraw = feats(net, X)
    for kind in a.anomaly:
        for seed in range(a.seeds):
            t = time.time(); g = torch.Generator().manual_seed(seed); torch.manual_seed(seed)
            head = nn.Linear(512, 1); opt = torch.optim.Adam(head.parameters(), lr=1e-3)
            for _ in range(a.passes):
                perm = torch.randperm(n, generator=g)
                for i in range(0, n - 31, 32):
                    xb = jitter(X[perm[i:i + 32]], g)
                    with torch.no_grad(): f = net(torch.cat([xb, anomalies(kind, xb, g)])).mean((2, 3))
                    loss = F.binary_cross_entropy_with_logits(head(f).squeeze(1), torch.cat([torch.zeros(len(xb)), torch.ones(len(xb))]))
                    opt.zero_grad(); loss.backward(); opt.step()
            with torch.no_grad(): hq = head(q).squeeze(1).numpy(); ht = head(memraw).squeeze(1).numpy()
            s = kz + standardise(hq, ht)
            print(f'{split} {kind} seed {seed}: head {auroc(hq, y):.4f}, sum {auroc(s, y):.4f}, SPE at SEN 0.91 {spe_at_sen(s, y)[0]}, at 0.95 {spe_at_sen(s, y, 0.95)[0]} ({time.time() - t:.0f} s)', flush=True)


for split in a.splits: evaluate(split)
