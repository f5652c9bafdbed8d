/** 0 = normal, 1 = anomalous, null = unknown (e.g. images to score). */
export type Label = 0 | 1 | null;

/** Where an item's pixels live. */
export type ImageSource =
  /** An image file (PNG, JPEG, BMP, TIFF, DICOM, … detected from its bytes). */
  | { kind: 'file'; path: string }
  /** Image `index` of array `array` (e.g. `train_images`) in a MedMNIST-style `.npz` file. */
  | { kind: 'array'; file: string; array: string; index: number }
  /** Axial slice `slice` (0-based index along the volume's third axis) of a NIfTI volume. */
  | { kind: 'volume'; path: string; slice: number };

/** One image of a dataset: listed cheaply, decoded on demand by `ImageDataset.load`. */
export interface ImageItem {
  /** Stable identifier, unique within the dataset (a relative path, `<file>:<array>[i]`, …). */
  id: string;
  label: Label;
  /** The publisher's class name (folder name, CSV column, MedMNIST label), when known. */
  className?: string;
  source: ImageSource;
}

/** A decoded, resized image: HWC float32 in [0, 1]. */
export interface DecodedImage {
  id: string;
  label: Label;
  data: Float32Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

export interface LoadOptions {
  /** Output width and height in pixels (square output). */
  size: number;
  /** Output channels: 3 (default; gray is repeated) or 1 (colour becomes luma 0.299R + 0.587G + 0.114B). */
  channels?: 1 | 3;
  /**
   * Crop the central square (side = the shorter side) before resizing. Default false: the whole
   * image is resized to size × size, changing its aspect ratio (as torchvision's Resize((s, s))).
   */
  centerCrop?: boolean;
  /** Refuse images with more pixels than this before decoding them (default `DEFAULT_MAX_PIXELS`). */
  maxPixels?: number;
  /**
   * Accept images whose decoder only warned (e.g. libjpeg's "Corrupt JPEG data: …", extraneous
   * bytes). Default false: a warning makes the file invalid, so damaged data is never used silently.
   * Truncated files are refused either way.
   */
  tolerateWarnings?: boolean;
}

/** A file (or array entry, or volume) that was not used, and why. */
export interface SkippedFile {
  path: string;
  reason: string;
}

export interface ImageDataset {
  /** Human-readable name (e.g. `chest-xray/train`, `pneumoniamnist/train`). */
  name: string;
  items: ImageItem[];
  /** Decodes one item (throws `InvalidImageError` naming the path and the reason). */
  load(item: ImageItem, options: LoadOptions): Promise<DecodedImage>;
  /**
   * Everything left out so far, with the reason: invalid files found while listing or (with
   * `skipInvalid`) while decoding in `batches`, and files ignored for their type. Write it with the
   * run (`writeSkipReport`): nothing is dropped silently.
   */
  skipped: SkippedFile[];
  /** Whether `batches` skips (and reports) files that fail to decode instead of stopping. */
  skipInvalid: boolean;
}
