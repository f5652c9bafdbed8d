// The README's FrEIA recipe: load a FrEIA SequenceINN state dict exactly as FrEIA saved it (here
// a matrix-era one, 2023), check it against FrEIA's own outputs, then save the flow as JSON +
// weights and rebuild it. Run: AEFLOW_HOME=/path/to/shared npx tsx examples/freia.ts
import * as tf from '@tensorflow/tfjs';
import { readSafetensors } from '@aeflow/tensor/node'; // or any reader giving name → tensor
import { deserializeFlow, fromFreiaStateDict, inspectFreiaStateDict, serializeFlow } from '@aeflow/flows';

const home = process.env.AEFLOW_HOME;
if (!home) throw new Error('examples/freia.ts: set AEFLOW_HOME to the folder holding golden/freia');
const dir = `${home}/golden/freia/legacy_seq4_conv31_c16`;

const stateDict = await readSafetensors(`${dir}/weights.safetensors`); // module_list.<i>.w_perm [16, 16, 1, 1], …
console.log(inspectFreiaStateDict(stateDict)); // { container: 'SequenceINN', blocks: 4, channels: 16, era: 'legacy', … }
// FrEIA's constructor arguments by their names; the era (and so the clamp), shapes and subnet come from the tensors.
const flow = fromFreiaStateDict(stateDict, { affineClamping: 2, globalAffineType: 'SOFTPLUS', subnet: 'conv31' });
tf.dispose(Object.values(stateDict));

const io = await readSafetensors(`${dir}/io.safetensors`);
const x = tf.transpose(io.x!, [0, 2, 3, 1]); // FrEIA's NCHW → NHWC
const { y: z, logDet } = flow.forward(x);
const zFreia = tf.transpose(io.z!, [0, 2, 3, 1]);
console.log('max |z − z_FrEIA|', tf.max(tf.abs(tf.sub(z, zFreia))).dataSync()[0]);
console.log('log-det', Array.from(logDet.dataSync()), 'FrEIA', Array.from(io.log_jac_det!.dataSync()));

// Save: the architecture as JSON, the weights as a record (PyTorch names; e.g. writeSafetensors).
const json = JSON.stringify(serializeFlow(flow));
const weights = flow.getWeights();
// Rebuild with @aeflow/flows alone: same outputs.
const copy = deserializeFlow(JSON.parse(json));
copy.setWeights(weights);
console.log('rebuilt: max |Δz|', tf.max(tf.abs(tf.sub(copy.forward(x).y, z))).dataSync()[0]);
flow.dispose();
copy.dispose();
