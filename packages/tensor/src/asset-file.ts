// The description of a fetchable file is plain data (browser-safe); fetching it into the cache
// is Node's job (./assets.ts).

/**
 * A file that aeflow knows how to fetch: where it lives in the asset cache, where it comes from
 * and how to check it. The cache has the same layout as the project's shared folder:
 * `data/<dataset>/…`, `assets/<model>/…`.
 */
export interface AssetFile {
  /** Path inside the asset cache, with forward slashes (e.g. `data/medmnist/breastmnist.npz`). */
  path: string;
  /** Public URL of the file. */
  url: string;
  /** Hex SHA-256 of the file (preferred) … */
  sha256?: string;
  /** … or the MD5 its publisher states, where no SHA-256 is published. */
  md5?: string;
  /** Size in bytes, if known (for the progress bar and a quick check). */
  bytes?: number;
  /** Licence of the file, for the record. */
  license?: string;
}
