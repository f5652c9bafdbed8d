// onnx-proto is CommonJS (protobufjs static code): Node's ESM loader cannot see its named export,
// so the namespace is taken from the default export; the types come from its declarations.
import onnxProto from 'onnx-proto';
import type { onnx as OnnxNamespace } from 'onnx-proto';

export const onnx: typeof OnnxNamespace = (onnxProto as unknown as { onnx: typeof OnnxNamespace }).onnx;
// eslint-disable-next-line @typescript-eslint/no-namespace -- re-exports onnx-proto's namespace of types
export declare namespace onnx {
  type IAttributeProto = OnnxNamespace.IAttributeProto;
  type IValueInfoProto = OnnxNamespace.IValueInfoProto;
  type INodeProto = OnnxNamespace.INodeProto;
  type ITensorProto = OnnxNamespace.ITensorProto;
}
