/**
 * @bokuweb/zstd-wasm, initialised synchronously on first use (`zstd()`).
 *
 * The package's own `init()` is async (it reads and instantiates its wasm with promises), which used to
 * mean a top-level `await` in compression.ts, and a module graph with top-level await cannot be
 * `require()`d from CommonJS. Emscripten's `instantiateWasm` hook lets us compile and instantiate the same
 * wasm synchronously instead (Node has no size limit on synchronous compilation), so importing celeriac
 * costs nothing and zstd works from the first call, from ESM and CommonJS alike.
 *
 * This is the one module under protocol/ that touches the file system: it reads the package's bundled
 * `zstd.wasm` once (the read the package's own init did), never anything else (see purity.test.ts).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

export interface ZstdModule {
  compress(buf: Uint8Array, level?: number): Uint8Array;
  decompress(buf: Uint8Array, opts?: { defaultHeapSize?: number }): Uint8Array;
}
/** The bits of the WebAssembly global used here (the project's lib settings do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
interface EmscriptenModule {
  instantiateWasm?: (imports: object, receive: (instance: { exports: object }, module: object) => unknown) => unknown;
  init(buf?: unknown): unknown;
  calledRun?: boolean;
}
let zstdModule: ZstdModule | null = null;

/** The zstd API, instantiating the wasm on the first call. */
export function zstd(): ZstdModule {
  if (zstdModule) return zstdModule;
  const main = require.resolve('@bokuweb/zstd-wasm'); // dist/common/index.node.js (CommonJS)
  const api = require(main) as ZstdModule;
  const { Module } = require(join(dirname(main), 'module.js')) as { Module: EmscriptenModule };
  if (!Module.calledRun) {
    const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    Module.instantiateWasm = (imports, receive) => {
      const module = new wasm.Module(readFileSync(join(dirname(main), 'zstd.wasm')));
      const instance = new wasm.Instance(module, imports);
      receive(instance, module);
      return instance.exports;
    };
    Module.init();
    if (!Module.calledRun) throw new Error('@bokuweb/zstd-wasm did not initialise synchronously');
  }
  return (zstdModule = api);
}
