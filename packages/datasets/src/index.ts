// The browser-safe face of @aeflow/datasets: types, byte decoders (BMP, DICOM, NPY/NPZ), raster
// operations, splits and batches (the DICOM wasm codecs: `@aeflow/datasets/dicom-codecs`).
// Datasets read from folders and files, sharp decoding, NIfTI files and the skip report are in
// ./node.ts (`@aeflow/datasets/node`).
export type { Label, ImageSource, ImageItem, DecodedImage, LoadOptions, SkippedFile, ImageDataset } from './types.js';
export { InvalidImageError } from './errors.js';
export type { InvalidImageCode } from './errors.js';
export { DEFAULT_MAX_PIXELS, resizeRaster, resampleTaps, convertChannels } from './raster.js';
export type { Raster } from './raster.js';
export { decodeBmp } from './bmp.js';
export { decodeDicom, decodeDicomAsync, applyWindow, TRANSFER_SYNTAX } from './dicom.js';
export type { DecodeDicomOptions, DicomCodecs, DicomCodecName, DicomFrameDecoder, DecodedFrame } from './dicom.js';
export { decodeRle } from './dicom-rle.js';
export type { RleFrameShape } from './dicom-rle.js';
export { parseNpy, parseNpz } from './npy.js';
export type { NpyArray, NpyData, NpzContents } from './npy.js';
export { shuffleItems, splitItems, trainValSplit, stratifiedKFold, valTestFolds, holdOutSplit } from './splits.js';
export type { SplitItemsOptions, TrainValSplitOptions, HoldOutSplitOptions } from './splits.js';
export { batches, IMAGENET_MEAN, IMAGENET_STD } from './batches.js';
export type { Batch, BatchOptions } from './batches.js';
export { loadImageBatch } from './load-batch.js';
export type { LoadImageBatchOptions, LoadedImageBatch } from './load-batch.js';
