#!/usr/bin/env python3
"""Three ways to score the `nsa` preset's two parts differently (issue 14), probed in PyTorch on both
splits (MobileNet V1, 128 px, BatchNorm statistics re-estimated on the training normals; kNN k = 2 on
pooled, L2-normalised features, each part standardised on the training normals, the kNN by
leave-one-out; the head as aeflow's `score.synthetic: 'nsa'`, 3 passes):
  base      kNN on pooled conv_pw_11 + head on pooled conv_pw_11 (the preset's shape)
  halves    the kNN per half (left, right: a memory of each half's pooled features), the two
            standardised distances averaged, + the head: a one-sided opacity is diluted by pooling
            the whole chest
  flip      test-time flip: kNN of the mean of the image's and its mirror's pooled features, the
            head's logit averaged over both
  tap12     + a second tap: the head on [conv_pw_11, conv_pw_12] pooled (trained on the same
            anomalies), the kNN the mean of the two taps' standardised distances
Splits: carved (80 % of the training normals fitted; the other 268 against 400 training pneumonias)
and val (all 1341 fitted; val/, 20 % of the official test split, n = 125). Printed, so a choice made
from it is made on val/.

    /usr/bin/python3 scripts/reproduce/probes/score-variants.py --seeds 2
"""
import argparse, os, sys, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mobilenet_torch import MobileNet, auroc, cached, jitter, nsa_blend as nsa, reestimate_bn, spe_at_sen, split_for

p = argparse.ArgumentParser()
p.add_argument('--seeds', type=int, default=2)
p.add_argument('--splits', nargs='+', choices=['carved', 'val'], default=['carved', 'val'])
a = p.parse_args()
torch.set_num_threads(2)
d = cached(128)
net = MobileNet('conv_pw_12_relu').eval()
cut11 = net.index('conv_pw_11_relu') + 1


@torch.no_grad()
def maps(x, bs=64):  # conv_pw_11 and conv_pw_12 feature maps
    a11, a12 = [], []
    for i in range(0, len(x), bs):
        f = net(x[i:i + bs], 0, cut11); a11.append(f); a12.append(net(f, cut11))
    return torch.cat(a11), torch.cat(a12)


def knn(mem, q, k=2):  # standardised by leave-one-out on mem
    mem = F.normalize(mem, dim=1); q = F.normalize(q, dim=1)
    s = torch.cdist(q, mem).topk(k, largest=False).values.mean(1).numpy()
    dd = torch.cdist(mem, mem); dd.fill_diagonal_(float('inf')); loo = dd.topk(k, largest=False).values.mean(1).numpy()
    return (s - loo.mean()) / loo.std(), (loo - loo.mean()) / loo.std()


def restd(pair):  # an average of standardised scores, standardised again on the training side
    q, t = pair; return (q - t.mean()) / t.std()


def show(split, name, s, y):
    print(f'{split} {name}: {auroc(s, y):.4f}, SPE at SEN 0.91 {spe_at_sen(s, y)[0]}, at 0.95 {spe_at_sen(s, y, 0.95)[0]}', flush=True)


def evaluate(split):
    X, Q, y = split_for(d, split)
    reestimate_bn(net, X)
    m11, m12 = maps(X); q11, q12 = maps(Q); f11, f12 = maps(torch.flip(Q, [3]))
    W = m11.shape[3]
    k_base = knn(m11.mean((2, 3)), q11.mean((2, 3)))
    halves = [knn(m11[..., sl].mean((2, 3)), q11[..., sl].mean((2, 3))) for sl in (slice(0, W // 2), slice(W // 2, W))]
    k_halves = restd(((halves[0][0] + halves[1][0]) / 2, (halves[0][1] + halves[1][1]) / 2))
    k_flip = knn(m11.mean((2, 3)), (q11.mean((2, 3)) + f11.mean((2, 3))) / 2)[0]
    k12 = knn(m12.mean((2, 3)), q12.mean((2, 3)))
    k_two = restd(((k_base[0] + k12[0]) / 2, (k_base[1] + k12[1]) / 2))
    n = len(X)
    for seed in range(a.seeds):
        t = time.time(); g = torch.Generator().manual_seed(seed); torch.manual_seed(seed)
        h11 = nn.Linear(512, 1); h2 = nn.Linear(512 + 1024, 1)
        opt = torch.optim.Adam(list(h11.parameters()) + list(h2.parameters()), lr=1e-3)
        for _ in range(3):
            perm = torch.randperm(n, generator=g)
            for i in range(0, n - 31, 32):
                xb = jitter(X[perm[i:i + 32]], g)
                a11, a12 = maps(torch.cat([xb, nsa(xb, g)]))
                p11, p12 = a11.mean((2, 3)), a12.mean((2, 3))
                lab = torch.cat([torch.zeros(len(xb)), torch.ones(len(xb))])
                loss = F.binary_cross_entropy_with_logits(h11(p11).squeeze(1), lab) + F.binary_cross_entropy_with_logits(h2(torch.cat([p11, p12], 1)).squeeze(1), lab)
                opt.zero_grad(); loss.backward(); opt.step()
        with torch.no_grad():
            st = lambda q, t: ((q - t.mean()) / t.std()).numpy()
            tr11 = h11(m11.mean((2, 3))).squeeze(1)
            hA = st(h11(q11.mean((2, 3))).squeeze(1), tr11)
            hA_flip = st((h11(q11.mean((2, 3))) + h11(f11.mean((2, 3)))).squeeze(1) / 2, tr11)
            hB = st(h2(torch.cat([q11.mean((2, 3)), q12.mean((2, 3))], 1)).squeeze(1), h2(torch.cat([m11.mean((2, 3)), m12.mean((2, 3))], 1)).squeeze(1))
        print(f'{split} seed {seed} ({time.time() - t:.0f} s)')
        show(split, 'base', k_base[0] + hA, y)
        show(split, 'halves', k_halves + hA, y)
        show(split, 'flip', k_flip + hA_flip, y)
        show(split, 'tap12 head', k_base[0] + hB, y)
        show(split, 'tap12 head+knn', k_two + hB, y)


for split in a.splits: evaluate(split)
