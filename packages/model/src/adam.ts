import * as tf from '@tensorflow/tfjs-core';

export interface AdamConfig {
  lr: number;
  /** L2 penalty added to the gradient, as PyTorch's `Adam(weight_decay=…)` (not AdamW). */
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

/**
 * Adam with PyTorch's semantics (`torch.optim.Adam`): g ← g + wd·θ; m ← β1·m + (1 − β1)·g;
 * v ← β2·v + (1 − β2)·g²; θ ← θ − lr·m̂ / (√v̂ + ε) with bias-corrected m̂, v̂.
 * Its state (moments and step count) can be saved and restored, so a resumed run continues
 * exactly; tfjs' own optimiser has no weight decay and no portable state.
 */
export class Adam {
  lr: number;
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** Updates applied so far. */
  step = 0;
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];

  constructor(
    private readonly variables: tf.Variable[],
    config: AdamConfig,
  ) {
    this.lr = config.lr;
    this.weightDecay = config.weightDecay ?? 0;
    this.beta1 = config.beta1 ?? 0.9;
    this.beta2 = config.beta2 ?? 0.999;
    this.epsilon = config.epsilon ?? 1e-8;
    // inside tidy: tf.variable keeps its initial tensor alive otherwise
    this.m = variables.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
    this.v = variables.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
  }

  /** Applies one update; `grads[i]` belongs to `variables[i]`. Does not dispose the gradients. */
  apply(grads: tf.Tensor[]): void {
    if (grads.length !== this.variables.length) throw new Error(`Adam.apply: ${grads.length} gradients for ${this.variables.length} variables`);
    this.step += 1;
    const bc1 = 1 - this.beta1 ** this.step;
    const bc2 = 1 - this.beta2 ** this.step;
    const stepSize = this.lr / bc1;
    // One tidy per variable: the temporaries of all variables at once would need about ten times
    // the model's size (a 50M-parameter flow ran out of the 4 GiB wasm heap).
    this.variables.forEach((theta, i) => {
      tf.tidy(() => {
        let g = grads[i]!;
        if (this.weightDecay !== 0) g = tf.add(g, tf.mul(theta, this.weightDecay));
        const m = tf.add(tf.mul(this.m[i]!, this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(this.v[i]!, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        this.m[i]!.assign(m);
        this.v[i]!.assign(v);
        const denom = tf.add(tf.sqrt(tf.div(v, bc2)), this.epsilon);
        theta.assign(tf.sub(theta, tf.mul(tf.div(m, denom), stepSize)));
      });
    });
  }

  /** The moments as new tensors, keyed `m.<i>` / `v.<i>` (the caller disposes them). */
  getState(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    this.m.forEach((t, i) => (out[`m.${i}`] = tf.clone(t)));
    this.v.forEach((t, i) => (out[`v.${i}`] = tf.clone(t)));
    return out;
  }

  /** Restores moments saved by {@link getState} (with the step count, saved separately). */
  setState(state: Record<string, tf.Tensor>, step: number): void {
    const check = (key: string, target: tf.Variable): void => {
      const t = state[key];
      if (!t) throw new Error(`Adam.setState: missing ${key}; the optimizer state belongs to another model`);
      if (t.shape.join() !== target.shape.join()) throw new Error(`Adam.setState: ${key} has shape [${t.shape.join(', ')}], expected [${target.shape.join(', ')}]`);
      target.assign(t);
    };
    this.m.forEach((t, i) => check(`m.${i}`, t));
    this.v.forEach((t, i) => check(`v.${i}`, t));
    this.step = step;
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}
