#!/usr/bin/env python3
"""kNN on pooled frozen features, over k and the pooling (mean, GeM p = 3), for folders written by
dump-features.mjs --val official: AUROC on val/ (20 % of the official test, n = 125) and on the
carved 320. Nothing is trained, nothing chosen. numpy only; not part of CI.

    python3 scripts/reproduce/probes/knn-sweep.py pretrained=/tmp/f/pre train-normals=/tmp/f/bn [--size 128]
"""
import argparse, json
import numpy as np

p = argparse.ArgumentParser()
p.add_argument('folders', nargs='+', help='label=folder')
p.add_argument('--size', type=int, default=128)
p.add_argument('--tap', default='conv_pw_11_relu')
a = p.parse_args()


def load(folder):
    out = {}
    for part in ['train', 'val', 'test']:
        m = json.load(open(f'{folder}/{part}-{a.size}.json'))
        out[part] = (np.fromfile(f'{folder}/{part}-{a.tap}-{a.size}.f32', dtype=np.float32).reshape([m['n']] + m['shapes'][a.tap]), np.array(m['labels']))
    return out


def auroc(s, y):
    pos, neg = s[y == 1][:, None], s[y == 0][None]
    return ((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size)


unit = lambda g: g / np.linalg.norm(g, axis=-1, keepdims=True)


def knn(memory, queries, k):
    d2 = (queries ** 2).sum(1)[:, None] + (memory ** 2).sum(1)[None] - 2 * queries @ memory.T
    return np.sort(np.sqrt(np.maximum(d2, 0)), 1)[:, :k].mean(1)


pools = {'mean': lambda x: x.mean((1, 2)), 'GeM p = 3': lambda x: (np.maximum(x, 0) ** 3).mean((1, 2)) ** (1 / 3)}
print(f'| encoder BatchNorm | pooling | k | val/ AUROC (n = 125) | carved AUROC (n = 320) |\n|---|---|---|---|---|')
for spec in a.folders:
    label, folder = spec.split('=', 1)
    d = load(folder)
    for name, pool in pools.items():
        memory = unit(pool(d['train'][0]))
        for k in [1, 2, 5, 10]:
            v = auroc(knn(memory, unit(pool(d['val'][0])), k), d['val'][1])
            t = auroc(knn(memory, unit(pool(d['test'][0])), k), d['test'][1])
            print(f'| {label} | {name} | {k} | {v:.3f} | {t:.3f} |')
