#!/usr/bin/env python3
"""AE-FLOW in PyTorch with the same configuration as aeflow's `paper` preset, for a speed
side-by-side on the same machine (issue 8). Not part of CI; needs Debian's python3-torch and
python3-torchvision (`apt-get install python3-torch python3-torchvision`), run with /usr/bin/python3.

Mirrors aeflow's layers: Wide-ResNet-50-2 to layer3 (random weights, eval mode, no gradient),
8 AllInOne-style blocks (affine coupling with the resnet subnet 3x3 conv -> BN -> ReLU -> 1x1 conv
plus a 1x1 shortcut, soft clamp 2; global affine with softplus scale; channel reversal), and the
4-up-block decoder 1024 -> 512 -> 256 -> 64 -> 3. Loss 0.5*NLL/dim + 0.5*MSE, Adam lr 2e-4 wd 1e-5.
Prints one JSON line: train and score images/s.
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class ResNetSubnet(nn.Module):
    def __init__(self, cin, cout, hidden):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, hidden, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, cout, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1)
        for m in (self.conv2, self.shortcut):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.conv2(F.relu(self.bn1(self.conv1(x)))) + self.shortcut(x)


class AllInOneBlock(nn.Module):
    def __init__(self, channels, hidden, clamp=2.0):
        super().__init__()
        self.c1 = channels - channels // 2
        self.c2 = channels // 2
        self.subnet = ResNetSubnet(self.c1, 2 * self.c2, hidden)
        self.clamp = clamp
        # softplus_{beta=0.5}(g) * 0.1 == 1 at init
        g0 = 2.0 * math.log(math.exp(0.5 * 10.0) - 1.0)
        self.gamma = nn.Parameter(torch.full((1, channels, 1, 1), g0))
        self.offset = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x):
        x1, x2 = x[:, : self.c1], x[:, self.c1 :]
        a = 0.1 * self.subnet(x1)
        s, t = a[:, : self.c2], a[:, self.c2 :]
        j = self.clamp * torch.tanh(s / self.clamp)
        y2 = x2 * torch.exp(j) + t
        y = torch.cat([x1, y2], 1)
        logdet = j.flatten(1).sum(1)
        scale = 0.1 * F.softplus(self.gamma, beta=0.5)
        y = y * scale + self.offset
        logdet = logdet + x.shape[2] * x.shape[3] * torch.log(scale).sum()
        return torch.flip(y, [1]), logdet


class Decoder(nn.Module):
    def __init__(self, widths=(1024, 512, 256, 64, 3)):
        super().__init__()
        layers = []
        for i in range(4):
            layers.append(nn.ConvTranspose2d(widths[i], widths[i + 1], 2, stride=2))
            if i < 3:
                layers += [nn.ReLU(), nn.Conv2d(widths[i + 1], widths[i + 1], 3, padding=1), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z)


def gaussian_window(size=11, sigma=1.5):
    g = torch.exp(-((torch.arange(size) - size // 2) ** 2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(3, 1, size, size).contiguous()


def ssim(a, b, win):
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = F.conv2d(a, win, groups=3), F.conv2d(b, win, groups=3)
    saa = F.conv2d(a * a, win, groups=3) - mu_a**2
    sbb = F.conv2d(b * b, win, groups=3) - mu_b**2
    sab = F.conv2d(a * b, win, groups=3) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))
    return m.flatten(1).mean(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--blocks", type=int, default=8)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: every core; 0: PyTorch's own default)")
    p.add_argument("--score-only", action="store_true", help="time scoring only (no training steps)")
    args = p.parse_args()
    if args.threads:
        # PyTorch's own default here is one thread per physical core as it counts them (1 on this
        # 2-core machine): users with all cores busy set this, and the side-by-side must too.
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    wrn = torchvision.models.wide_resnet50_2(weights=None).eval()
    encoder = nn.Sequential(wrn.conv1, wrn.bn1, wrn.relu, wrn.maxpool, wrn.layer1, wrn.layer2, wrn.layer3).eval()
    for q in encoder.parameters():
        q.requires_grad_(False)
    flow = nn.ModuleList([AllInOneBlock(1024, args.hidden) for _ in range(args.blocks)])
    decoder = Decoder()
    opt = torch.optim.Adam(list(flow.parameters()) + list(decoder.parameters()), lr=2e-4, weight_decay=1e-5)
    win = gaussian_window()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x01 = torch.rand(args.batch, 3, args.size, args.size)
    x = (x01 - mean) / std

    def run_flow(z):
        logdet = torch.zeros(z.shape[0])
        for blk in flow:
            z, ld = blk(z)
            logdet = logdet + ld
        return z, logdet

    def train_step():
        flow.train()
        decoder.train()
        with torch.no_grad():
            z = encoder(x)
        zp, logdet = run_flow(z)
        d = zp[0].numel()
        nll = (0.5 * (zp**2).flatten(1).sum(1) + 0.5 * d * math.log(2 * math.pi) - logdet) / d
        rec = decoder(zp)
        loss = 0.5 * nll.mean() + 0.5 * F.mse_loss(rec, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss)

    def score_step():
        flow.eval()
        decoder.eval()
        with torch.no_grad():
            zp, _ = run_flow(encoder(x))
            logp = (-0.5 * zp**2 - 0.5 * math.log(2 * math.pi)).flatten(1).mean(1)
            s_flow = -torch.exp(logp)
            rec = decoder(zp)
            s_rec = -ssim((rec * std + mean).clamp(0, 1), x01, win)
            return 0.9 * s_flow + 0.1 * s_rec

    train_ips = None
    if not args.score_only:
        train_step()  # warm-up
        t0 = time.perf_counter()
        for _ in range(args.steps):
            train_step()
        train_ips = round(args.batch * args.steps / (time.perf_counter() - t0), 3)
    score_step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        score_step()
    score_ips = args.batch * args.steps / (time.perf_counter() - t0)
    print(json.dumps({
        "framework": f"pytorch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "size": args.size, "batch": args.batch, "steps": args.steps,
        "train_images_per_s": train_ips,
        "score_images_per_s": round(score_ips, 3),
    }))


if __name__ == "__main__":
    main()
