// Loads the compiled addon and describes its (internal) shape. The relative
// path resolves to packages/hyperscan/build from both src/ and dist/.
import { createRequire } from 'node:module';
import { HyperscanError, type HyperscanErrorCode } from './errors.js';

export interface NativeDatabase {
  scan(data: Uint8Array): Array<{ id: number; to: number }>;
  serialize(): Buffer;
  size(): number;
  info(): string;
  isStream(): boolean;
  close(): void;
}

export interface NativeStreamSet {
  open(): number;
  scan(slot: number, chunk: Uint8Array): number[];
  close(slot: number): number[];
  reset(slot: number): number[];
  restart(slots: Uint32Array, count?: number): void;
  scanBatch(slots: Uint32Array, data: Uint8Array, starts: Uint32Array, ends: Uint32Array, count?: number, out?: Int32Array): Int32Array;
  closeAll(): void;
  openCount(): number;
}

interface Addon {
  setErrorFactory(
    make: (code: HyperscanErrorCode, message: string, expressionIndex?: number, patternId?: number) => Error,
  ): void;
  compile(expressions: Uint8Array[], flags: Uint32Array, ids: Uint32Array, stream: boolean): NativeDatabase;
  deserialize(bytes: Uint8Array): NativeDatabase;
  /** Databases whose libhs memory is still allocated (for leak tests). */
  liveDatabases(): number;
  NativeStreamSet: new (db: NativeDatabase, eodCheck: boolean, foldAsciiCase: boolean) => NativeStreamSet;
}

export const addon = createRequire(import.meta.url)('../build/Release/l7hs.node') as Addon;

addon.setErrorFactory(
  (code, message, expressionIndex, patternId) => new HyperscanError(code, message, { expressionIndex, patternId }),
);
