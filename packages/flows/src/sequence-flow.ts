import * as tf from '@tensorflow/tfjs-core';
import { prefixSpecs, prefixWeights, setChildWeights, specsOf, validateWeights, type WeightSpec } from './checks.js';
import type { FlowLayer, FlowOptions, FlowResult, InverseResult } from './flow-layer.js';
import { readConfig, type FlowConfig } from './config.js';
import { legacyToPyTorchLayout } from './legacy-weights.js';
import { deserializeFlowLayer, serializeFlow } from './serialization.js';

/**
 * Layers applied in order; forward sums their log-dets, inverse runs them backwards. Keys are
 * the layers' keys prefixed with `<index>.` (e.g. `0.coupling.subnet.conv1.weight`).
 */
export class SequenceFlow implements FlowLayer {
  readonly name: string;
  readonly layers: readonly FlowLayer[];

  constructor(layers: readonly FlowLayer[], name = 'sequence') {
    if (layers.length === 0) throw new Error(`SequenceFlow "${name}": needs at least one layer`);
    this.layers = [...layers];
    this.name = name;
  }

  forward(x: tf.Tensor, options: FlowOptions = {}): FlowResult {
    return tf.tidy(() => {
      let y = x;
      let logDet: tf.Tensor1D | undefined;
      for (const layer of this.layers) {
        const r = layer.forward(y, options);
        y = r.y;
        logDet = logDet ? tf.add<tf.Tensor1D>(logDet, r.logDet) : r.logDet;
      }
      return { y, logDet: logDet! };
    });
  }

  inverse(y: tf.Tensor, options: FlowOptions = {}): InverseResult {
    return tf.tidy(() => {
      let x = y;
      let logDet: tf.Tensor1D | undefined;
      for (let i = this.layers.length - 1; i >= 0; i--) {
        const r = this.layers[i]!.inverse(x, options);
        x = r.x;
        logDet = logDet ? tf.add<tf.Tensor1D>(logDet, r.logDet) : r.logDet;
      }
      return { x, logDet: logDet! };
    });
  }

  get trainableVariables(): tf.Variable[] {
    return this.layers.flatMap((l) => l.trainableVariables);
  }

  getWeights(): Record<string, tf.Tensor> {
    return Object.assign({}, ...this.layers.map((l, i) => prefixWeights(`${i}.`, l.getWeights()))) as Record<
      string,
      tf.Tensor
    >;
  }

  weightSpecs(): Record<string, WeightSpec> {
    return Object.assign({}, ...this.layers.map((l, i) => prefixSpecs(`${i}.`, specsOf(l)))) as Record<string, WeightSpec>;
  }

  setWeights(weights: Record<string, tf.Tensor>): void {
    // Records saved in the old TensorFlow.js layout (recognised by their actnorm keys) still load.
    const converted = legacyToPyTorchLayout(weights);
    try {
      validateWeights(converted.weights, this.weightSpecs());
      this.layers.forEach((l, i) => setChildWeights(`${i}.`, converted.weights, l));
    } finally {
      tf.dispose(converted.created);
    }
  }

  dispose(): void {
    for (const l of this.layers) l.dispose();
  }

  static readonly className = 'SequenceFlow';

  getClassName(): string {
    return SequenceFlow.className;
  }

  /** `{ name, layers: [{ className, config }, …] }` (tfjs-layers' convention); weights are separate. */
  getConfig(): FlowConfig {
    return { name: this.name, layers: this.layers.map((l) => serializeFlow(l) as unknown as FlowConfig) };
  }

  /** Rebuilds the sequence a config describes (initial weights from seed 0: load the saved ones with setWeights). */
  static fromConfig(config: FlowConfig): SequenceFlow {
    const owner = 'SequenceFlow.fromConfig';
    const c = readConfig(config, owner, ['name', 'layers']);
    if (!Array.isArray(c.layers) || c.layers.length === 0) {
      throw new Error(`${owner}: field "layers" must be a non-empty array of { className, config }, got ${JSON.stringify(c.layers)}`);
    }
    if (c.name !== undefined && typeof c.name !== 'string') throw new Error(`${owner}: field "name" must be a string, got ${JSON.stringify(c.name)}`);
    const layers: FlowLayer[] = [];
    try {
      c.layers.forEach((l, i) => layers.push(deserializeFlowLayer(l, `${owner}: layers[${i}]`)));
    } catch (err) {
      for (const l of layers) l.dispose();
      throw err;
    }
    return new SequenceFlow(layers, c.name);
  }
}
