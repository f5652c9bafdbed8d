#!/usr/bin/env python3
"""How likely is a run's own threshold to meet issue 14's operating point (sensitivity >= 0.91 with
specificity >= 0.76) on the held-out 80 % of the official test split? An estimate from the run's
scores on val/ only (the held-out part is not ours to look at): a smoothed bootstrap (resample the
val/ scores per class, add Gaussian noise of 0.1 x their sd) draws a val/-sized sample (78 + 47), a
threshold rule chooses on it, and a held-out-sized sample (312 + 188) of the same population is
measured at that threshold. 2000 draws, seeded. The population is val/ itself, so the estimate
inherits val/'s own luck; it says how much the rule's sampling noise costs, not what the held-out
part holds.

    /usr/bin/python3 scripts/reproduce/probes/operating-point.py runs/t/nsa1 runs/t/nsa-seed1
"""
import csv, sys
import numpy as np


def load(run):
    rows = [r for r in csv.DictReader(open(f'{run}/scores.csv')) if r['id'].startswith('val/')]
    return np.array([float(r['total']) for r in rows]), np.array([int(r['label']) for r in rows])


def ranked(s, y):  # thresholds at each distinct score, flagging s >= t
    o = np.argsort(-s); ss, yy = s[o], y[o]
    last = np.r_[ss[1:] != ss[:-1], True]
    return ss, np.cumsum(yy), np.cumsum(1 - yy), last


def best_f1(s, y):
    ss, tp, fp, last = ranked(s, y)
    return ss[np.argmax(np.where(last, 2 * tp / (tp + fp + y.sum()), -1))]


def youden(s, y):
    ss, tp, fp, last = ranked(s, y)
    return ss[np.argmax(np.where(last, tp / y.sum() - fp / (1 - y).sum(), -9))]


def sensitivity(target):
    def rule(s, y):
        pos = np.sort(s[y == 1]); return pos[int(np.floor((1 - target) * len(pos)))]
    return rule


RULES = {'best F1 (the trainer\'s)': best_f1, "Youden's J": youden, 'SEN >= 0.93 on val/': sensitivity(0.93), 'SEN >= 0.95 on val/': sensitivity(0.95)}
rng = np.random.default_rng(0)
for run in sys.argv[1:]:
    s, y = load(run); pos, neg = s[y == 1], s[y == 0]; bw = 0.1 * s.std()
    draw = lambda x, n: rng.choice(x, n) + rng.normal(0, bw, n)
    print(f'{run}: {len(pos)} anomalous, {len(neg)} normal on val/')
    for name, rule in RULES.items():
        met, sens, spes = 0, [], []
        for _ in range(2000):
            vp, vn = draw(pos, 78), draw(neg, 47)
            t = rule(np.r_[vp, vn], np.r_[np.ones(78, int), np.zeros(47, int)])
            se, sp = (draw(pos, 312) >= t).mean(), (draw(neg, 188) < t).mean()
            sens.append(se); spes.append(sp); met += se >= 0.91 and sp >= 0.76
        q = lambda v: f'{np.median(v):.3f} ({np.quantile(v, 0.05):.3f}–{np.quantile(v, 0.95):.3f})'
        print(f'  {name}: goal met in {met / 20:.0f} % of draws; SEN {q(sens)}, SPE {q(spes)}')
