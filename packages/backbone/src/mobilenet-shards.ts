import { MOBILENET_TAP_ALIASES, mobilenetParamSpecs, parseKerasModel, shardsFor } from './mobilenet.js';

/**
 * The weight shards (paths as the model.json's weightsManifest names them) that a MobileNet encoder
 * with these taps reads: what to ship with it, e.g. to a web page, and nothing past the deepest tap.
 * `modelJson` is the model.json as text, bytes or its parsed value; `source` names it in messages.
 *
 * ```ts
 * mobilenetShards(await readFile('model.json', 'utf8'), ['conv_pw_11_relu']); // ['group1-shard1of1', …]
 * ```
 */
export function mobilenetShards(modelJson: string | Uint8Array | object, taps: readonly string[], source = 'model.json'): string[] {
  if (taps.length === 0) throw new Error('mobilenetShards: pass at least one tap (e.g. conv_pw_11_relu)');
  let raw: unknown = modelJson;
  if (typeof modelJson === 'string' || modelJson instanceof Uint8Array) {
    const text = typeof modelJson === 'string' ? modelJson : new TextDecoder().decode(modelJson);
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new Error(`${source}: not JSON (${(err as Error).message}); pass the TF.js layers model's model.json`);
    }
  }
  const spec = parseKerasModel(raw, source, '.');
  const layers = taps.map((t) => MOBILENET_TAP_ALIASES[t] ?? t);
  return shardsFor(spec, mobilenetParamSpecs(spec, layers));
}
