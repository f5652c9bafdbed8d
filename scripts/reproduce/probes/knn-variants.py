#!/usr/bin/env python3
"""Two more kNN ideas for issue 14, probed on frozen features (MobileNet V1, 128 px, BatchNorm
statistics re-estimated on the 1341 training normals, conv_pw_11, kNN k = 2 on L2-normalised
features; AUROC and specificity at sensitivity >= 0.91 on val/, n = 125; printed, so a choice made
from it is made on val/):
  scales   the memory also holds the training normals zoomed by each factor given (about the
           centre, borders repeated): the false positives on val/ look like older children with a
           wider field of view, so a memory covering framing might not flag them
  regions  the feature map pooled per region of a grid (2 x 2, 1 x 2 left/right, 3 x 1 top to
           bottom), a kNN per region against the same region of the training normals, and the
           largest standardised region distance: a one-sided opacity is diluted by pooling the
           whole image

    /usr/bin/python3 scripts/reproduce/probes/knn-variants.py scales
    /usr/bin/python3 scripts/reproduce/probes/knn-variants.py regions
"""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np, torch, torch.nn.functional as F
from mobilenet_torch import MobileNet, auroc, cached, feats, knn_score, reestimate_bn, spe_at_sen

variant = sys.argv[1] if len(sys.argv) > 1 else 'scales'
torch.set_num_threads(2)
d = cached(128); yv = d['yval']; X = d['train']
net = MobileNet().eval(); reestimate_bn(net, X)
show = lambda name, s: print(name, round(auroc(s, yv), 4), 'SPE at SEN 0.91', spe_at_sen(s, yv)[0], flush=True)


def zoom(x, s):
    th = torch.zeros(len(x), 2, 3); th[:, 0, 0] = 1 / s; th[:, 1, 1] = 1 / s
    return F.grid_sample(x, F.affine_grid(th, x.shape, align_corners=False), padding_mode='border', align_corners=False)


with torch.no_grad():
    if variant == 'scales':
        mem = feats(net, X); q = feats(net, d['val'])
        show('plain', knn_score(mem, q, 2))
        for scales in [(0.9, 1.1), (0.85, 1.15), (0.8, 0.9, 1.1, 1.2)]:
            show(f'memory + zoom {scales}', knn_score(torch.cat([mem] + [feats(net, zoom(X, s)) for s in scales]), q, 2))
    else:
        memu = feats(net, X, pool=False); qu = feats(net, d['val'], pool=False)
        show('whole image', knn_score(memu.mean((2, 3)), qu.mean((2, 3)), 2))
        H = memu.shape[2]
        for rows, cols in [(2, 2), (1, 2), (3, 1)]:
            parts = []
            for i in range(rows):
                for j in range(cols):
                    ys, ye, xs, xe = i * H // rows, (i + 1) * H // rows, j * H // cols, (j + 1) * H // cols
                    m = F.normalize(memu[:, :, ys:ye, xs:xe].mean((2, 3)), dim=1); qq = qu[:, :, ys:ye, xs:xe].mean((2, 3))
                    dd = torch.cdist(m, m); dd.fill_diagonal_(float('inf')); loo = dd.topk(2, largest=False).values.mean(1).numpy()
                    parts.append((knn_score(m, qq, 2) - loo.mean()) / loo.std())
            parts = np.stack(parts)
            show(f'{rows} x {cols} regions, max', parts.max(0))
            show(f'{rows} x {cols} regions, mean', parts.mean(0))
