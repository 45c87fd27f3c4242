export interface UiBundle {
  /** The minified ES module defining every `<cognive-*>` element. */
  js: string;
}

/** Bundles the component sources in memory (esbuild). */
export function buildBundle(): Promise<UiBundle>;
/** Writes the bundle to `dist/cognive-ui.js`; resolves to its size in bytes. */
export function writeBundle(): Promise<number>;
/** Where `writeBundle` writes. */
export const BUNDLE_FILE: string;
