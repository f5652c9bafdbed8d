/**
 * Loading FrEIA `AllInOneBlock` / `SequenceINN` state dicts as FrEIA saved them (PyTorch layout,
 * FrEIA's key names), from either FrEIA era:
 * - before Aug 2023 (e.g. 08cc210, and anomalib's copy): `w_perm` / `w_perm_inv` are [C, C, 1, 1]
 *   float matrices and the clamp is c·tanh(s);
 * - since (e.g. 4212496): a hard permutation is an int64 index vector `w_perm` [C] (y = x[:, w_perm])
 *   and the clamp is c·tanh(s/c).
 * A soft permutation (`permute_soft=True`) is a [C, C, 1, 1] rotation in both eras.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ClampMode } from './affine-coupling.js';
import { AllInOneBlock } from './all-in-one-block.js';
import { shapeString } from './checks.js';
import { convSubnet } from './conv-subnet.js';
import { doubleConvSubnet } from './double-conv-subnet.js';
import { InvertibleConv1x1 } from './invertible-conv1x1.js';
import { checkPermutation } from './modules.js';
import { SequenceFlow } from './sequence-flow.js';
import type { SubnetFactory } from './subnet.js';

/** FrEIA's `global_affine_type`. */
export type FreiaGlobalAffineType = 'SOFTPLUS' | 'SIGMOID' | 'EXP';

/** The subnets of the FrEIA fixtures: `conv31` = 3×3 conv → ReLU → 1×1 conv; `fastflow` = FastFlow's k×k conv → ReLU → k×k conv. */
export type FreiaSubnetKind = 'conv31' | 'fastflow';

/** Options named after FrEIA's `AllInOneBlock` constructor arguments (what the tensors cannot tell). */
export interface FromFreiaOptions {
  /** FrEIA's `affine_clamping`. Default 2. */
  affineClamping?: number;
  /** FrEIA's `global_affine_type`. Default 'SOFTPLUS'. */
  globalAffineType?: FreiaGlobalAffineType;
  /** FrEIA's `permute_soft`. Inferred from `w_perm` when absent (a rotation rather than a permutation); checked when given. */
  permuteSoft?: boolean;
  /** FrEIA's `reverse_permutation`. Default false. */
  reversePermutation?: boolean;
  /** FrEIA's `gin_block`. Default false. */
  ginBlock?: boolean;
  /**
   * The subnet: 'conv31' (keys `subnet.conv1.*`, `subnet.conv2.*`), 'fastflow' (keys
   * `subnet.1.*`, `subnet.4.*`, as FastFlow's nn.Sequential) or your own factory, whose
   * `setWeights` gets the `subnet.` keys without that prefix. Inferred from the keys when absent;
   * checked against them when a name is given.
   */
  subnet?: FreiaSubnetKind | SubnetFactory;
  /** Channels of FrEIA's condition (`dims_c`) when `subnet` is a factory. Default 0 (inferred for the named subnets). */
  conditionChannels?: number;
  /**
   * The clamp, when the tensors cannot tell the era: only a state dict whose every `w_perm` is a
   * soft rotation (stored alike in both eras) needs it. 'soft' = c·tanh(s/c) (FrEIA since Aug
   * 2023), 'legacy' = c·tanh(s) (before). When the era is known, a contradicting value is an error.
   */
  clampMode?: ClampMode;
  /** Name of the returned layer. Default 'freia'. */
  name?: string;
}

/** What a FrEIA state dict holds, read from its keys and tensors alone. */
export interface FreiaStateDictInfo {
  /** `SequenceINN` (keys `module_list.<i>.…`) or a bare `AllInOneBlock`. */
  container: 'SequenceINN' | 'AllInOneBlock';
  blocks: number;
  channels: number;
  /** `current` (int64 index `w_perm`), `legacy` ([C, C, 1, 1] permutation matrix) or `unknown` (only soft rotations). */
  era: 'current' | 'legacy' | 'unknown';
  /** Whether the blocks' `w_perm` are soft rotations (`permute_soft=True`). */
  permuteSoft: boolean;
  /** The subnet the keys show, if it is one of the named kinds. */
  subnet: FreiaSubnetKind | 'other';
  /** Hidden width and kernel of a named subnet; input channels beyond C − ⌊C/2⌋ are condition channels. */
  hiddenChannels?: number;
  kernelSize?: number;
  conditionChannels?: number;
}

interface BlockRecord {
  /** `module_list.<i>.` or '' (for error messages). */
  prefix: string;
  globalScale: tf.Tensor;
  globalOffset: tf.Tensor;
  wPerm: tf.Tensor;
  wPermInv: tf.Tensor | undefined;
  subnet: Record<string, tf.Tensor>;
}

interface PermutationRead {
  kind: 'index' | 'matrix' | 'soft';
  /** Output channel j = input channel perm[j] (index and hard matrix). */
  perm?: number[];
  /** Row-major C×C rotation (soft). */
  matrix?: Float32Array;
}

const WHO = 'fromFreiaStateDict';

function splitBlocks(stateDict: Record<string, tf.Tensor>): { container: FreiaStateDictInfo['container']; blocks: BlockRecord[] } {
  if (stateDict === null || typeof stateDict !== 'object') throw new Error(`${WHO}: the state dict must be a record of name → tensor (as readSafetensors returns)`);
  const keys = Object.keys(stateDict);
  if (keys.length === 0) throw new Error(`${WHO}: the state dict is empty`);
  const sequence = keys.some((k) => k.startsWith('module_list.'));
  const groups = new Map<number, Record<string, tf.Tensor>>();
  for (const key of keys) {
    const t = stateDict[key];
    if (!(t instanceof tf.Tensor)) throw new Error(`${WHO}: "${key}" is not a tensor`);
    if (!sequence) {
      const g = groups.get(0) ?? {};
      g[key] = t;
      groups.set(0, g);
      continue;
    }
    const m = /^module_list\.(\d+)\.(.+)$/.exec(key);
    if (!m) throw new Error(`${WHO}: key "${key}" is not under module_list.<i>. although others are (a SequenceINN state dict holds only its blocks)`);
    const i = Number(m[1]);
    const g = groups.get(i) ?? {};
    g[m[2]!] = t;
    groups.set(i, g);
  }
  const indices = [...groups.keys()].sort((a, b) => a - b);
  indices.forEach((idx, n) => {
    if (idx !== n) throw new Error(`${WHO}: block module_list.${n} is missing (blocks found: ${indices.join(', ')})`);
  });
  const blocks = indices.map((i) => {
    const prefix = sequence ? `module_list.${i}.` : '';
    const g = groups.get(i)!;
    const take = (name: string): tf.Tensor => {
      const t = g[name];
      if (!t) throw new Error(`${WHO}: "${prefix}${name}" is missing (an AllInOneBlock has global_scale, global_offset, w_perm and subnet.*)`);
      return t;
    };
    const subnet: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(g)) {
      if (name.startsWith('subnet.')) subnet[name.slice('subnet.'.length)] = t;
      else if (name === 'vk_householder' || name === 'w_0') {
        throw new Error(`${WHO}: "${prefix}${name}" belongs to learned_householder_permutation, which is not supported; save the block without it`);
      } else if (!['global_scale', 'global_offset', 'w_perm', 'w_perm_inv'].includes(name)) {
        throw new Error(`${WHO}: "${prefix}${name}" is not a key of FrEIA's AllInOneBlock (global_scale, global_offset, w_perm, w_perm_inv, subnet.*)`);
      }
    }
    if (Object.keys(subnet).length === 0) throw new Error(`${WHO}: block "${prefix || '(bare)'}" has no subnet.* keys`);
    return { prefix, globalScale: take('global_scale'), globalOffset: take('global_offset'), wPerm: take('w_perm'), wPermInv: g.w_perm_inv, subnet };
  });
  return { container: sequence ? 'SequenceINN' : 'AllInOneBlock', blocks };
}

function channelsOf(b: BlockRecord): number {
  const s = b.globalScale.shape;
  if (s.length < 2 || s[0] !== 1 || s.slice(2).some((d) => d !== 1)) {
    throw new Error(`${WHO}: "${b.prefix}global_scale" has shape ${shapeString(s)}; FrEIA's is [1, C, 1, 1] (or [1, C] for 1-D data)`);
  }
  const c = s[1]!;
  if (b.globalOffset.size !== c) throw new Error(`${WHO}: "${b.prefix}global_offset" has shape ${shapeString(b.globalOffset.shape)} but global_scale says ${c} channels`);
  return c;
}

function readPermutation(b: BlockRecord, c: number): PermutationRead {
  const w = b.wPerm;
  const key = `${b.prefix}w_perm`;
  if (w.rank === 1) {
    if (w.dtype !== 'int32') throw new Error(`${WHO}: "${key}" is a vector of dtype ${w.dtype}; FrEIA's index permutation is int64 (read as int32)`);
    const perm = Array.from(w.dataSync());
    try {
      checkPermutation(perm, c, `"${key}"`);
    } catch (err) {
      throw new Error(`${WHO}: ${(err as Error).message}`);
    }
    if (b.wPermInv) {
      const inv = Array.from(b.wPermInv.dataSync());
      if (b.wPermInv.rank !== 1 || inv.length !== c || perm.some((p, j) => inv[p] !== j)) {
        throw new Error(`${WHO}: "${b.prefix}w_perm_inv" is not the inverse of w_perm: the state dict is inconsistent`);
      }
    }
    return { kind: 'index', perm };
  }
  if (w.rank < 2 || w.shape[0] !== c || w.shape[1] !== c || w.shape.slice(2).some((d) => d !== 1)) {
    throw new Error(`${WHO}: "${key}" has shape ${shapeString(w.shape)}; FrEIA stores an int64 index vector [${c}] or a matrix [${c}, ${c}, 1, 1]`);
  }
  const m = Float32Array.from(w.dataSync());
  if (!m.every(Number.isFinite)) throw new Error(`${WHO}: "${key}" holds NaN or Inf`);
  const perm: number[] = [];
  for (let j = 0; j < c; j++) {
    const row = m.subarray(j * c, (j + 1) * c);
    const ones = row.reduce((n, v) => n + (v === 1 ? 1 : 0), 0);
    const zeros = row.reduce((n, v) => n + (v === 0 ? 1 : 0), 0);
    if (ones !== 1 || zeros !== c - 1) return { kind: 'soft', matrix: m };
    perm.push(row.indexOf(1));
  }
  try {
    checkPermutation(perm, c, `"${key}"`);
  } catch {
    return { kind: 'soft', matrix: m }; // one-hot rows that repeat a column: not a permutation, not invertible either (luDecompose will say)
  }
  return { kind: 'matrix', perm };
}

interface SubnetRead {
  kind: FreiaSubnetKind | 'other';
  inChannels?: number;
  hidden?: number;
  outChannels?: number;
  kernel?: number;
}

function readSubnet(subnet: Record<string, tf.Tensor>): SubnetRead {
  const keys = Object.keys(subnet).sort().join(',');
  const conv = (w: tf.Tensor | undefined): { out: number; in: number; k: number } | undefined =>
    w && w.rank === 4 && w.shape[2] === w.shape[3] ? { out: w.shape[0], in: w.shape[1]!, k: w.shape[2]! } : undefined;
  if (keys === 'conv1.bias,conv1.weight,conv2.bias,conv2.weight') {
    const a = conv(subnet['conv1.weight']);
    const b = conv(subnet['conv2.weight']);
    if (a && b && a.k === 3 && b.k === 1 && b.in === a.out) return { kind: 'conv31', inChannels: a.in, hidden: a.out, outChannels: b.out, kernel: 3 };
  }
  if (keys === '1.bias,1.weight,4.bias,4.weight') {
    const a = conv(subnet['1.weight']);
    const b = conv(subnet['4.weight']);
    if (a && b && a.k === b.k && b.in === a.out) return { kind: 'fastflow', inChannels: a.in, hidden: a.out, outChannels: b.out, kernel: a.k };
  }
  return { kind: 'other' };
}

function eraOf(p: PermutationRead): FreiaStateDictInfo['era'] {
  return p.kind === 'index' ? 'current' : p.kind === 'matrix' ? 'legacy' : 'unknown';
}

/** Reads a FrEIA state dict's structure (container, blocks, channels, era, permutation kind, subnet) without building anything. */
export function inspectFreiaStateDict(stateDict: Record<string, tf.Tensor>): FreiaStateDictInfo {
  const { container, blocks } = splitBlocks(stateDict);
  const channels = channelsOf(blocks[0]!);
  const perms = blocks.map((b) => {
    const c = channelsOf(b);
    if (c !== channels) throw new Error(`${WHO}: "${b.prefix}global_scale" has ${c} channels but the first block has ${channels}`);
    return readPermutation(b, c);
  });
  const eras = new Set(perms.map(eraOf));
  eras.delete('unknown');
  if (eras.size > 1) throw new Error(`${WHO}: the blocks mix FrEIA eras (index-vector and matrix w_perm): they were not saved by one FrEIA version`);
  const softs = new Set(perms.map((p) => p.kind === 'soft'));
  if (softs.size > 1) throw new Error(`${WHO}: some blocks' w_perm are soft rotations and others hard permutations; FrEIA's permute_soft is one setting per block type: load them separately`);
  const sub = readSubnet(blocks[0]!.subnet);
  const c1 = channels - Math.floor(channels / 2);
  return {
    container,
    blocks: blocks.length,
    channels,
    era: [...eras][0] ?? 'unknown',
    permuteSoft: perms[0]!.kind === 'soft',
    subnet: sub.kind,
    ...(sub.kind === 'other' ? {} : { hiddenChannels: sub.hidden, kernelSize: sub.kernel, conditionChannels: sub.inChannels! - c1 }),
  };
}

const AFFINE_TYPES: Record<FreiaGlobalAffineType, 'softplus' | 'sigmoid' | 'exp'> = { SOFTPLUS: 'softplus', SIGMOID: 'sigmoid', EXP: 'exp' };

/**
 * A flow layer (NHWC input) holding the weights of a FrEIA `AllInOneBlock` state dict (bare keys)
 * or of a `SequenceINN` of them (`module_list.<i>.` keys), exactly as FrEIA saved it (a name →
 * tensor record as `readSafetensors` returns). Shapes, the era (index-vector `w_perm` = FrEIA
 * since Aug 2023 with clamp c·tanh(s/c); [C, C, 1, 1] permutation matrix = before, c·tanh(s)) and
 * the subnet are read from the tensors; `w_perm_inv` is checked and dropped. Returns an
 * `AllInOneBlock` for a bare block, a `SequenceFlow` of blocks `block0…` for a SequenceINN. Data
 * laid out NCHW for FrEIA goes in as NHWC: `tf.transpose(x, [0, 2, 3, 1])`.
 */
export function fromFreiaStateDict(stateDict: Record<string, tf.Tensor>, options: FromFreiaOptions = {}): AllInOneBlock | SequenceFlow {
  const known = ['affineClamping', 'globalAffineType', 'permuteSoft', 'reversePermutation', 'ginBlock', 'subnet', 'conditionChannels', 'clampMode', 'name'];
  for (const k of Object.keys(options)) if (!known.includes(k)) throw new Error(`${WHO}: unknown option "${k}" (options: ${known.join(', ')})`);
  const info = inspectFreiaStateDict(stateDict);
  const { blocks } = splitBlocks(stateDict);
  const c = info.channels;

  const affineType = options.globalAffineType ?? 'SOFTPLUS';
  if (!(affineType in AFFINE_TYPES)) throw new Error(`${WHO}: globalAffineType must be 'SOFTPLUS', 'SIGMOID' or 'EXP' (FrEIA's global_affine_type), got ${String(affineType)}`);
  if (options.permuteSoft !== undefined && options.permuteSoft !== info.permuteSoft) {
    throw new Error(
      options.permuteSoft
        ? `${WHO}: permuteSoft is true but "w_perm" is a hard permutation (${info.era === 'current' ? 'an index vector' : 'a 0/1 matrix'}): the blocks were made with permute_soft=False`
        : `${WHO}: permuteSoft is false but "w_perm" is a rotation, not a permutation: the blocks were made with permute_soft=True`,
    );
  }
  const eraClamp: ClampMode | undefined = info.era === 'current' ? 'soft' : info.era === 'legacy' ? 'legacy' : undefined;
  if (options.clampMode !== undefined && options.clampMode !== 'soft' && options.clampMode !== 'legacy') {
    throw new Error(`${WHO}: clampMode must be 'soft' or 'legacy', got ${String(options.clampMode)}`);
  }
  if (options.clampMode !== undefined && eraClamp !== undefined && options.clampMode !== eraClamp) {
    throw new Error(
      `${WHO}: clampMode '${options.clampMode}' contradicts the state dict: its w_perm ${info.era === 'current' ? 'index vectors' : 'permutation matrices'} ` +
        `are FrEIA ${info.era === 'current' ? 'since Aug 2023, whose clamp is c·tanh(s/c) (clampMode soft)' : 'before Aug 2023, whose clamp is c·tanh(s) (clampMode legacy)'}`,
    );
  }
  const clampMode = options.clampMode ?? eraClamp;
  if (!clampMode) {
    throw new Error(
      `${WHO}: every w_perm is a soft rotation (permute_soft=True), which FrEIA stores the same way in every version, so the clamp cannot be read ` +
        `from the tensors: pass clampMode: 'soft' (FrEIA since Aug 2023: c·tanh(s/c)) or 'legacy' (before: c·tanh(s))`,
    );
  }

  let factory: SubnetFactory;
  let conditionChannels: number;
  if (typeof options.subnet === 'function') {
    factory = options.subnet;
    conditionChannels = options.conditionChannels ?? 0;
  } else {
    if (options.subnet !== undefined && options.subnet !== 'conv31' && options.subnet !== 'fastflow') {
      throw new Error(`${WHO}: subnet must be 'conv31', 'fastflow' or a subnet factory, got ${String(options.subnet)}`);
    }
    const keys = Object.keys(blocks[0]!.subnet).map((k) => `subnet.${k}`).join(', ');
    if (info.subnet === 'other') {
      throw new Error(
        `${WHO}: the subnet keys (${keys}) are neither 'conv31' (conv1 3×3 → conv2 1×1) nor 'fastflow' (1 k×k → 4 k×k): pass subnet: a factory building the same network`,
      );
    }
    if (options.subnet !== undefined && options.subnet !== info.subnet) {
      throw new Error(`${WHO}: subnet '${options.subnet}' was asked for but the keys (${keys}) are a '${info.subnet}' subnet`);
    }
    conditionChannels = info.conditionChannels!;
    if (conditionChannels < 0) throw new Error(`${WHO}: the subnet's first conv takes ${info.conditionChannels! + c - Math.floor(c / 2)} channels, fewer than the passive half's ${c - Math.floor(c / 2)}`);
    if (options.conditionChannels !== undefined && options.conditionChannels !== conditionChannels) {
      throw new Error(`${WHO}: conditionChannels ${options.conditionChannels} was given but the subnet's first conv implies ${conditionChannels}`);
    }
    factory = info.subnet === 'conv31' ? convSubnet({ hiddenChannels: info.hiddenChannels }) : doubleConvSubnet({ hiddenChannels: info.hiddenChannels, kernelSize: info.kernelSize });
  }

  const built: AllInOneBlock[] = [];
  try {
    blocks.forEach((b, i) => {
      const perm = readPermutation(b, c);
      const block = new AllInOneBlock({
        channels: c,
        subnet: factory,
        clamp: options.affineClamping ?? 2,
        clampMode,
        permutation: perm.kind === 'soft' ? 'soft' : 'reverse',
        reversePermutation: options.reversePermutation ?? false,
        actnorm: AFFINE_TYPES[affineType],
        volumePreserving: options.ginBlock ?? false,
        conditionChannels,
        name: info.container === 'SequenceINN' ? `block${i}` : (options.name ?? 'freia'),
      });
      built.push(block);
      loadBlock(block, b, perm, c);
    });
  } catch (err) {
    for (const b of built) b.dispose();
    throw err;
  }
  return info.container === 'SequenceINN' ? new SequenceFlow(built, options.name ?? 'freia') : built[0]!;
}

/** Renames one FrEIA block's tensors to the block's keys and loads them (layouts need no change). */
function loadBlock(block: AllInOneBlock, b: BlockRecord, perm: PermutationRead, c: number): void {
  const created: tf.Tensor[] = [];
  const make = <T extends tf.Tensor>(t: T): T => {
    created.push(t);
    return t;
  };
  try {
    const weights: Record<string, tf.Tensor> = {
      'actnorm.global_scale': make(tf.reshape(b.globalScale, [1, c, 1, 1])),
      'actnorm.global_offset': make(tf.reshape(b.globalOffset, [1, c, 1, 1])),
    };
    for (const [k, t] of Object.entries(b.subnet)) weights[`coupling.subnet.${k}`] = t;
    if (perm.kind === 'soft') {
      const rotation = new InvertibleConv1x1({ channels: c, matrix: perm.matrix, trainable: false });
      const lu = rotation.getWeights();
      rotation.dispose();
      for (const [k, t] of Object.entries(lu)) weights[`invconv.${k}`] = make(t);
    } else {
      weights['permute.permutation'] = make(tf.tensor1d(perm.perm!, 'int32'));
    }
    try {
      block.setWeights(weights);
    } catch (err) {
      // Name FrEIA's key, not ours.
      const msg = (err as Error).message.replace(/"coupling\.subnet\./g, `"${b.prefix}subnet.`).replace(/"actnorm\./g, `"${b.prefix}`);
      throw new Error(`${WHO}: ${msg}`);
    }
  } finally {
    tf.dispose(created);
  }
}
