#!/usr/bin/env python3
"""The frozen synthetic-anomaly head (issue 14), probed in PyTorch: its spread over seeds, small
ensembles of heads, and how the head pools its feature map. MobileNet V1 at 128 px, BatchNorm
statistics re-estimated on the 1341 training normals, features of conv_pw_11 (frozen). The head is
a logistic regression on each feature position (w·f + b), pooled per image:
  mean   the mean over positions (= the logit of the pooled features: aeflow's score.synthetic 'nsa')
  topk   the mean of the highest quarter of the positions ('nsa-patch')
  lse    log-mean-exp over positions (a soft maximum)
trained as aeflow's (blended ellipse of another normal, brightness/contrast jitter, Adam 1e-3, batch
32). After every pass it prints, on val/ (20 % of the official test split, n = 125), the AUROC of the
head alone and of the sum with a kNN (k = 2) on the pooled, L2-normalised features (memory: the
training normals), each standardised on the training normals (the kNN by leave-one-out), and the
sum's specificity at sensitivity >= 0.91; at the end, the same for the mean of the seeds' standardised
heads after each pass. Everything is printed, so a choice made from this output is made on val/.

    /usr/bin/python3 scripts/reproduce/probes/head-probes.py --pool mean --seeds 5 --passes 3
    /usr/bin/python3 scripts/reproduce/probes/head-probes.py --pool topk --seeds 3 --passes 3
"""
import argparse, os, sys, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mobilenet_torch import MobileNet, auroc, cached, feats, jitter, knn_score, nsa_blend as blend, reestimate_bn, spe_at_sen

p = argparse.ArgumentParser()
p.add_argument('--pool', choices=['mean', 'topk', 'lse'], default='mean')
p.add_argument('--seeds', type=int, default=3)
p.add_argument('--passes', type=int, default=3)
p.add_argument('--threads', type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
d = cached(128); yv = d['yval']
net = MobileNet().eval(); reestimate_bn(net, d['train'])
with torch.no_grad():
    memu = feats(net, d['train'], pool=False); qu = feats(net, d['val'], pool=False)
    mem = memu.mean((2, 3)); q = qu.mean((2, 3))
    kn = knn_score(mem, q, 2)
    dd = torch.cdist(F.normalize(mem, dim=1), F.normalize(mem, dim=1)); dd.fill_diagonal_(float('inf'))
    kn_train = dd.topk(2, largest=False).values.mean(1).numpy()  # leave-one-out
standardise = lambda s, ref: (s - ref.mean()) / ref.std()
kz = standardise(kn, kn_train)
print('knn', round(auroc(kn, yv), 4), 'feature map', tuple(qu.shape[1:]), flush=True)


def logit(head, fmap):  # fmap [N, C, h, w] -> [N]
    per_position = head(fmap.flatten(2).transpose(1, 2)).squeeze(2)
    if a.pool == 'mean': return per_position.mean(1)
    if a.pool == 'topk': return per_position.topk(max(1, per_position.shape[1] // 4), 1).values.mean(1)
    return torch.logsumexp(per_position, 1) - np.log(per_position.shape[1])


n = len(d['train']); X = d['train']; heads = {}
for seed in range(a.seeds):
    g = torch.Generator().manual_seed(seed); torch.manual_seed(seed)
    head = nn.Linear(memu.shape[1], 1); opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    for ep in range(1, a.passes + 1):
        t = time.time(); perm = torch.randperm(n, generator=g)
        for i in range(0, n - 31, 32):
            xb = jitter(X[perm[i:i + 32]], g)
            with torch.no_grad(): f = net(torch.cat([xb, blend(xb, g)]))
            loss = F.binary_cross_entropy_with_logits(logit(head, f), torch.cat([torch.zeros(len(xb)), torch.ones(len(xb))]))
            opt.zero_grad(); loss.backward(); opt.step()
        with torch.no_grad(): hv = logit(head, qu).numpy(); ht = logit(head, memu).numpy()
        heads[(seed, ep)] = (standardise(hv, ht), standardise(ht, ht))
        s = kz + heads[(seed, ep)][0]
        print(f'{a.pool} seed {seed} pass {ep}: loss {loss.item():.4f}, head {auroc(hv, yv):.4f}, sum {auroc(s, yv):.4f}, SPE at SEN 0.91 {spe_at_sen(s, yv)[0]} ({time.time() - t:.0f} s)', flush=True)
for ep in range(1, a.passes + 1):
    hv = sum(heads[(k, ep)][0] for k in range(a.seeds)) / a.seeds
    ht = sum(heads[(k, ep)][1] for k in range(a.seeds)) / a.seeds
    h = standardise(hv, ht); s = kz + h
    print(f'{a.pool} ensemble of {a.seeds} heads, pass {ep}: head {auroc(h, yv):.4f}, sum {auroc(s, yv):.4f}, SPE at SEN 0.91 {spe_at_sen(s, yv)[0]}', flush=True)
