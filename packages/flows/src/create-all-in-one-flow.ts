import { AllInOneBlock, type AllInOneBlockConfig } from './all-in-one-block.js';
import { checkPositiveInt } from './checks.js';
import { convSubnet } from './conv-subnet.js';
import { doubleConvSubnet } from './double-conv-subnet.js';
import { mlpSubnet } from './mlp-subnet.js';
import { seededRandom } from './random.js';
import { resnetSubnet } from './resnet-subnet.js';
import { SequenceFlow } from './sequence-flow.js';
import type { SubnetFactory } from './subnet.js';

/** The blocks' own settings (clamp, permutation, actnorm, seed, …) as `AllInOneBlockConfig` has them. */
export interface AllInOneFlowConfig extends Omit<AllInOneBlockConfig, 'subnet' | 'name'> {
  /** Number of AllInOne blocks. Default 8 (the paper). */
  blocks?: number;
  /**
   * The coupling subnet: `resnet` (default; the paper's ResNet-type subnet, NHWC input),
   * `conv` (the paper's 3×3 → ReLU → 1×1, NHWC input), `double-conv` (FastFlow's: the same k×k
   * kernel twice, NHWC input), `mlp` (per-position MLP, any rank, e.g. [batch, features]) or
   * your own factory.
   */
  subnet?: 'conv' | 'double-conv' | 'resnet' | 'mlp' | SubnetFactory;
  /** Hidden width of the built-in subnets. Default: 2·⌊C/2⌋ (≈ C; at least 16 for `mlp`; C − ⌊C/2⌋ for `double-conv`, FastFlow's ratio 1). */
  hiddenChannels?: number;
  /** Kernel size of the `double-conv` subnet. Default 3. */
  kernelSize?: number;
}

/**
 * `blocks` AllInOne blocks (coupling → actnorm → permutation) in a SequenceFlow, named
 * `block0` … `block<n-1>`; weight keys `<i>.coupling.subnet.*`, `<i>.actnorm.*`,
 * `<i>.permute.permutation` (or `<i>.invconv.*`).
 */
export function createAllInOneFlow(config: AllInOneFlowConfig): SequenceFlow {
  const blocks = config.blocks ?? 8;
  checkPositiveInt(config.channels, 'createAllInOneFlow', 'channels', 2);
  checkPositiveInt(blocks, 'createAllInOneFlow', 'blocks');
  const random = config.random ?? seededRandom(config.seed ?? 0);
  const subnetChoice = config.subnet ?? 'resnet';
  const sub = { hiddenChannels: config.hiddenChannels };
  let factory: SubnetFactory;
  if (typeof subnetChoice === 'function') factory = subnetChoice;
  else if (subnetChoice === 'resnet') factory = resnetSubnet(sub);
  else if (subnetChoice === 'conv') factory = convSubnet(sub);
  else if (subnetChoice === 'double-conv') factory = doubleConvSubnet({ ...sub, kernelSize: config.kernelSize });
  else if (subnetChoice === 'mlp') factory = mlpSubnet(sub);
  else throw new Error(`createAllInOneFlow: subnet must be 'resnet', 'conv', 'double-conv', 'mlp' or a factory, got ${String(subnetChoice)}`);
  if (config.kernelSize !== undefined && subnetChoice !== 'double-conv') {
    throw new Error(`createAllInOneFlow: kernelSize applies to the 'double-conv' subnet only (subnet is ${typeof subnetChoice === 'function' ? 'a factory' : `'${subnetChoice}'`})`);
  }
  const layers = Array.from(
    { length: blocks },
    (_, i) =>
      new AllInOneBlock({
        channels: config.channels,
        subnet: factory,
        clamp: config.clamp,
        clampMode: config.clampMode,
        permutation: config.permutation,
        reversePermutation: config.reversePermutation,
        volumePreserving: config.volumePreserving,
        actnorm: config.actnorm,
        actnormDataInit: config.actnormDataInit,
        conditionChannels: config.conditionChannels,
        random,
        name: `block${i}`,
      }),
  );
  return new SequenceFlow(layers, 'allinone-flow');
}
