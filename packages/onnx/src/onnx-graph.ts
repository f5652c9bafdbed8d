import { onnx } from './onnx-proto.js';

/** An attribute value: the ONNX type is taken from the JS type (a whole number is an INT). */
export type AttributeValue = number | string | number[] | { floats: number[] } | { float: number };

/** Element types the exporter writes. */
export type ElementType = 'float32' | 'int64';

const DATA_TYPE: Record<ElementType, number> = { float32: onnx.TensorProto.DataType.FLOAT, int64: onnx.TensorProto.DataType.INT64 };

/** A dimension: a number, or a symbolic name (e.g. `batch`). */
export type Dim = number | string;

function attribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: ${value} is not a whole number; pass { float: ${value} }`);
    return { name, type: T.INT, i: value };
  }
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if ('floats' in value) return { name, type: T.FLOATS, floats: value.floats };
  return { name, type: T.FLOAT, f: value.float };
}

function valueInfo(name: string, type: ElementType, dims: readonly Dim[], doc?: string): onnx.IValueInfoProto {
  return {
    name,
    ...(doc ? { docString: doc } : {}),
    type: {
      tensorType: {
        elemType: DATA_TYPE[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/**
 * A graph under construction: nodes in topological order, constants as initializers, unique
 * names. Serialised with onnx-proto (the ONNX protobuf schema compiled by protobufjs).
 */
export class OnnxGraph {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly used = new Set<string>();
  private readonly scalars = new Map<string, string>();

  /** A fresh name from a prefix. */
  name(prefix: string): string {
    let n = prefix;
    for (let i = 1; this.used.has(n); i++) n = `${prefix}_${i}`;
    this.used.add(n);
    return n;
  }

  input(name: string, type: ElementType, dims: readonly Dim[], doc?: string): string {
    if (this.used.has(name)) throw new Error(`OnnxGraph: the name ${name} is taken`);
    this.used.add(name);
    this.inputs.push(valueInfo(name, type, dims, doc));
    return name;
  }

  /** Declares `value` a graph output under `name` (an Identity node renames it). */
  output(value: string, name: string, type: ElementType, dims: readonly Dim[], doc?: string): void {
    if (this.used.has(name)) throw new Error(`OnnxGraph: the output name ${name} is taken`);
    this.used.add(name);
    this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: `output_${name}` });
    this.outputs.push(valueInfo(name, type, dims, doc));
  }

  /** A constant tensor (an initializer), stored as little-endian raw data. */
  constant(prefix: string, values: ArrayLike<number>, dims: readonly number[], type: ElementType = 'float32'): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (values.length !== size) throw new Error(`OnnxGraph.constant ${prefix}: ${values.length} values for shape [${dims.join(', ')}]`);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i]!)) throw new Error(`OnnxGraph.constant ${prefix}: value ${i} is ${values[i]}; the model's weights must be finite`);
    }
    const name = this.name(prefix);
    let raw: Uint8Array;
    if (type === 'float32') {
      const a = Float32Array.from(values);
      raw = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    } else {
      const a = BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
      raw = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    }
    this.initializers.push({ name, dims: [...dims], dataType: DATA_TYPE[type], rawData: raw });
    return name;
  }

  /** A float scalar (rank 0), shared by every use of the same value. */
  scalar(value: number): string {
    const key = `f${value}`;
    let name = this.scalars.get(key);
    if (!name) {
      name = this.constant('const', [value], []);
      this.scalars.set(key, name);
    }
    return name;
  }

  /** A 1-D int64 constant (shapes, axes, indices). */
  ints(prefix: string, values: readonly number[]): string {
    return this.constant(prefix, values, [values.length], 'int64');
  }

  /** Adds a node with one output; returns the output's name. */
  op(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, outputPrefix = opType.toLowerCase()): string {
    return this.opN(opType, inputs, 1, attributes, outputPrefix)[0]!;
  }

  /** Adds a node with `count` outputs. */
  opN(opType: string, inputs: readonly string[], count: number, attributes: Record<string, AttributeValue> = {}, outputPrefix = opType.toLowerCase()): string[] {
    const outputs = Array.from({ length: count }, (_, i) => this.name(count === 1 ? outputPrefix : `${outputPrefix}_${i}`));
    this.nodes.push({
      opType,
      input: [...inputs],
      output: outputs,
      name: this.name(`node_${outputs[0]}`),
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  /** The model as protobuf bytes. */
  serialize(options: { name: string; opset: number; producerName: string; producerVersion: string; docString: string; metadata: Record<string, string> }): Uint8Array {
    const model = onnx.ModelProto.create({
      // IR version 8 is the first to carry opset 17 (ONNX 1.12).
      irVersion: 8,
      opsetImport: [{ domain: '', version: options.opset }],
      producerName: options.producerName,
      producerVersion: options.producerVersion,
      docString: options.docString,
      graph: { name: options.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
      metadataProps: Object.entries(options.metadata).map(([key, value]) => ({ key, value })),
    });
    const err = onnx.ModelProto.verify(model);
    if (err) throw new Error(`OnnxGraph: the model does not match the ONNX schema: ${err}`);
    return onnx.ModelProto.encode(model).finish();
  }
}
