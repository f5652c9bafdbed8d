// The Cornerstone codec packages ship Emscripten module factories without type declarations, and
// jpeg-lossless-decoder-js names a declaration file it does not ship;
// src/dicom-codecs.ts checks what it gets at run time.
declare module '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs' {
  const factory: unknown;
  export default factory;
}
declare module '@cornerstonejs/codec-charls/decodewasmjs' {
  const factory: unknown;
  export default factory;
}
declare module '@cornerstonejs/codec-openjpeg/decodewasmjs' {
  const factory: unknown;
  export default factory;
}
declare module 'jpeg-lossless-decoder-js' {
  export const Decoder: unknown;
}
