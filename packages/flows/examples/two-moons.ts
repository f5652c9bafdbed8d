/**
 * Trains an 8-block AllInOne flow on two moons, compares its held-out NLL with the exact
 * density of the generating distribution, and writes docs/two-moons.png (data | samples drawn
 * through the inverse). Run: `pnpm example:two-moons` (STEPS=2000 by default).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@aeflow/tensor/node';
import { encode } from 'fast-png';
import { flowNll, sampleFlow, trainTwoMoons, twoMoons, twoMoonsReferenceNll, type TwoMoons } from '../test/two-moons.js';

const steps = Number(process.env.STEPS ?? 2000);
const noise = 0.1;
await initBackend({ backend: 'wasm' });

const heldOut = twoMoons(4000, noise, 2);
const reference = twoMoonsReferenceNll(heldOut, noise);
const start = Date.now();
const flow = await trainTwoMoons({
  steps,
  noise,
  onProgress: (step, nll) => {
    if (step % 500 === 0 || step === steps) console.log(`step ${step}: batch NLL ${nll.toFixed(4)} nats`);
  },
});
const nll = flowNll(flow, heldOut);
console.log(`trained ${steps} steps in ${((Date.now() - start) / 1000).toFixed(1)} s`);
console.log(`held-out NLL ${nll.toFixed(4)} nats/point; exact density of the data: ${reference.toFixed(4)}; gap ${(nll - reference).toFixed(4)}`);

const samples = sampleFlow(flow, 4000, 7);
flow.dispose();

// Two 360×300 panels: the data and the flow's samples, same axes (x in [-1.5, 2.5], y in [-1, 1.5]).
const panelW = 360;
const panelH = 300;
const gap = 12;
const width = 2 * panelW + gap;
const rgba = new Uint8Array(width * panelH * 4).fill(255);
function plot(points: TwoMoons, offsetX: number, color: [number, number, number]): void {
  for (let i = 0; i < points.n; i++) {
    const px = Math.round(offsetX + ((points.points[2 * i]! + 1.5) / 4) * panelW);
    const py = Math.round(panelH - ((points.points[2 * i + 1]! + 1) / 2.5) * panelH);
    for (let dy = 0; dy < 2; dy++) {
      for (let dx = 0; dx < 2; dx++) {
        const x = px + dx;
        const y = py + dy;
        if (x < offsetX || x >= offsetX + panelW || y < 0 || y >= panelH) continue;
        const o = (y * width + x) * 4;
        rgba.set([...color, 255], o);
      }
    }
  }
}
for (let y = 0; y < panelH; y++) for (let x = panelW; x < panelW + gap; x++) rgba.set([220, 220, 220, 255], (y * width + x) * 4);
plot(heldOut, 0, [40, 70, 160]);
plot(samples, panelW + gap, [200, 80, 30]);
const out = fileURLToPath(new URL('../docs/two-moons.png', import.meta.url));
writeFileSync(out, encode({ width, height: panelH, data: rgba, channels: 4, depth: 8 }));
console.log(`wrote ${out} (left: held-out data, right: samples through the inverse)`);
