import { readSerialized, type FlowConfig, type SerializedFlow } from './config.js';
import { ConvSubnet } from './conv-subnet.js';
import { DoubleConvSubnet } from './double-conv-subnet.js';
import { MlpSubnet } from './mlp-subnet.js';
import { ResNetSubnet } from './resnet-subnet.js';
import type { Subnet } from './subnet.js';

/** Builds a subnet from its config (what its `getConfig()` returned). */
export type SubnetFromConfig = (config: FlowConfig) => Subnet;

const userSubnets = new Map<string, SubnetFromConfig>();

function builtinSubnets(): Record<string, SubnetFromConfig> {
  return {
    [ConvSubnet.className]: (c) => ConvSubnet.fromConfig(c),
    [DoubleConvSubnet.className]: (c) => DoubleConvSubnet.fromConfig(c),
    [ResNetSubnet.className]: (c) => ResNetSubnet.fromConfig(c),
    [MlpSubnet.className]: (c) => MlpSubnet.fromConfig(c),
  };
}

/**
 * Makes your own subnet class loadable from JSON: `className` is what its `getClassName()`
 * returns, `fromConfig` rebuilds it from what its `getConfig()` returned. The built-in subnets
 * need no registration; a built-in name cannot be taken.
 */
export function registerSubnet(className: string, fromConfig: SubnetFromConfig): void {
  if (typeof className !== 'string' || className === '') throw new Error('registerSubnet: className must be a non-empty string');
  if (className in builtinSubnets()) throw new Error(`registerSubnet: "${className}" is a built-in subnet; choose another class name`);
  if (typeof fromConfig !== 'function') throw new Error(`registerSubnet("${className}"): fromConfig must be a function (config) => Subnet`);
  userSubnets.set(className, fromConfig);
}

/** `{ className, config }` of a subnet; a subnet without getClassName/getConfig is an error saying what to add. */
export function serializeSubnet(subnet: Subnet, owner: string): SerializedFlow {
  if (typeof subnet.getClassName !== 'function' || typeof subnet.getConfig !== 'function') {
    throw new Error(
      `${owner}: its subnet "${subnet.name}" has no getClassName()/getConfig(), so the architecture cannot be saved as JSON; ` +
        'give your subnet class both and register it with registerSubnet(className, fromConfig)',
    );
  }
  return { className: subnet.getClassName(), config: subnet.getConfig() };
}

/** The subnet a `{ className, config }` describes. */
export function deserializeSubnet(value: unknown, owner: string): Subnet {
  const { className, config } = readSerialized(value, `${owner}: subnet`);
  const build = builtinSubnets()[className] ?? userSubnets.get(className);
  if (!build) {
    const known = [...Object.keys(builtinSubnets()), ...userSubnets.keys()].join(', ');
    throw new Error(`${owner}: unknown subnet class "${className}" (known: ${known}); register your own with registerSubnet("${className}", fromConfig)`);
  }
  return build(config);
}
