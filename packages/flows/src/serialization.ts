import { ActNorm } from './actnorm.js';
import { AffineCoupling } from './affine-coupling.js';
import { AllInOneBlock } from './all-in-one-block.js';
import { readSerialized, type FlowConfig, type SerializedFlow } from './config.js';
import type { FlowLayer } from './flow-layer.js';
import { InvertibleConv1x1 } from './invertible-conv1x1.js';
import { Permute } from './permute.js';
import { SequenceFlow } from './sequence-flow.js';

/** Builds a flow layer from its config (what its `getConfig()` returned). */
export type FlowLayerFromConfig = (config: FlowConfig) => FlowLayer;

/** A layer that can describe itself: every built-in layer. */
export interface SerializableFlowLayer extends FlowLayer {
  getClassName(): string;
  getConfig(): FlowConfig;
}

const userLayers = new Map<string, FlowLayerFromConfig>();

// A function, not a constant: sequence-flow.ts imports this module, so the classes are read only
// when a config is loaded, never while the modules are still being evaluated.
function builtinLayers(): Record<string, FlowLayerFromConfig> {
  return {
    [AffineCoupling.className]: (c) => AffineCoupling.fromConfig(c),
    [ActNorm.className]: (c) => ActNorm.fromConfig(c),
    [Permute.className]: (c) => Permute.fromConfig(c),
    [InvertibleConv1x1.className]: (c) => InvertibleConv1x1.fromConfig(c),
    [AllInOneBlock.className]: (c) => AllInOneBlock.fromConfig(c),
    [SequenceFlow.className]: (c) => SequenceFlow.fromConfig(c),
  };
}

/**
 * Makes your own layer class loadable from JSON (inside a SequenceFlow, say): `className` is
 * what its `getClassName()` returns, `fromConfig` rebuilds it from its `getConfig()`.
 */
export function registerFlowLayer(className: string, fromConfig: FlowLayerFromConfig): void {
  if (typeof className !== 'string' || className === '') throw new Error('registerFlowLayer: className must be a non-empty string');
  if (className in builtinLayers()) throw new Error(`registerFlowLayer: "${className}" is a built-in layer; choose another class name`);
  if (typeof fromConfig !== 'function') throw new Error(`registerFlowLayer("${className}"): fromConfig must be a function (config) => FlowLayer`);
  userLayers.set(className, fromConfig);
}

/**
 * A flow's architecture as `{ className, config }`, JSON-able (`JSON.stringify` it). Save the
 * weights next to it (`layer.getWeights()`, e.g. as safetensors); `deserializeFlow` then
 * `setWeights` rebuilds the same flow.
 */
export function serializeFlow(layer: FlowLayer): SerializedFlow {
  const l = layer as Partial<SerializableFlowLayer>;
  if (typeof l.getClassName !== 'function' || typeof l.getConfig !== 'function') {
    throw new Error(
      `serializeFlow: layer "${layer.name}" has no getClassName()/getConfig(), so it cannot be saved as JSON; ` +
        'give your layer class both and register it with registerFlowLayer(className, fromConfig)',
    );
  }
  return { className: l.getClassName(), config: l.getConfig() };
}

/**
 * The layer a `{ className, config }` describes (as `serializeFlow` returns, or parsed from its
 * JSON), with fresh weights: load the saved ones with `setWeights`.
 */
export function deserializeFlow(value: unknown): FlowLayer {
  return deserializeFlowLayer(value, 'deserializeFlow');
}

export function deserializeFlowLayer(value: unknown, owner: string): FlowLayer {
  const { className, config } = readSerialized(value, owner);
  const build = builtinLayers()[className] ?? userLayers.get(className);
  if (!build) {
    const known = [...Object.keys(builtinLayers()), ...userLayers.keys()].join(', ');
    throw new Error(`${owner}: unknown flow layer class "${className}" (known: ${known}); register your own with registerFlowLayer("${className}", fromConfig)`);
  }
  return build(config);
}
