// The trainer's hold-out for chest X-ray (apps/trainer/src/data.ts), for position-probe.mjs, which must
// score the same images without training: `holdout` normal (at most 20 % of the normals) and as
// many pneumonia images, seeded; 20 % of them validate, 80 % are reported.
import { holdOutSplit } from '../../packages/datasets/dist/index.js';
import { chestXrayDataset } from '../../packages/datasets/dist/node.js';

export async function chestHoldOut(root, { holdout = 200, seed = 0 } = {}) {
  const ds = await chestXrayDataset(root, { split: 'train' });
  const normals = ds.items.filter((i) => i.label === 0).length;
  const anomalies = ds.items.filter((i) => i.label === 1).length;
  const held = Math.max(1, Math.min(holdout, Math.floor(normals * 0.2)));
  const anomalous = Math.min(held, anomalies);
  const s = holdOutSplit(ds.items, { seed, normal: held, anomalous, valFraction: 0.2 });
  const how = `held out ${held} normal + ${anomalous} anomalous images (seed ${seed}) as the trainer does; 20 % validation, 80 % reported`;
  return { ds, train: s.train, val: s.val, final: s.test, how };
}
