import { HyperscanError } from './errors.js';
import { addon, type NativeDatabase } from './native.js';

/** One pattern. A string expression is latin1: each char (<= U+00FF) is one byte. */
export interface PatternSpec {
  id: number;
  expression: string | Uint8Array;
  flags: number;
}

export type DatabaseMode = 'block' | 'stream';

/** A block-mode match: pattern id and end offset. */
export interface BlockMatch {
  id: number;
  to: number;
}

const invalid = (message: string, expressionIndex?: number) =>
  new HyperscanError('HS_INVALID_ARGUMENT', message, { expressionIndex });

/** Latin1 string -> bytes, refusing chars that latin1 would silently mangle. */
function expressionBytes(expression: unknown, index: number): Uint8Array {
  if (expression instanceof Uint8Array) return expression;
  if (typeof expression !== 'string') throw invalid(`pattern ${index}: expression must be a string or Uint8Array`, index);
  // eslint-disable-next-line no-control-regex
  if (/[^\u0000-\u00ff]/.test(expression)) {
    throw invalid(`pattern ${index}: string expressions are latin1 (one char per byte); pass UTF-8 as a Uint8Array`, index);
  }
  return Buffer.from(expression, 'latin1');
}

function isUint(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;
}

// Lets streams.ts reach the native handle without making it public API.
let nativeOf: (db: Database) => NativeDatabase;

/** A compiled libhs database (block or stream mode) with its own scratch. */
export class Database {
  readonly #native: NativeDatabase;
  readonly mode: DatabaseMode;

  static {
    nativeOf = (db) => db.#native;
  }

  private constructor(native: NativeDatabase) {
    this.#native = native;
    this.mode = native.isStream() ? 'stream' : 'block';
  }

  /** Compiles all patterns into one database (hs_compile_multi). Ids must be in [0, 2^31). */
  static compile(patterns: readonly PatternSpec[], mode: DatabaseMode): Database {
    if (mode !== 'block' && mode !== 'stream') throw invalid(`mode must be 'block' or 'stream'`);
    if (!Array.isArray(patterns)) throw invalid('patterns must be an array');
    const n = patterns.length;
    const expressions: Uint8Array[] = [];
    const flags = new Uint32Array(n);
    const ids = new Uint32Array(n);
    patterns.forEach((p: PatternSpec, i) => {
      if (!isUint(p?.id, 0x7fffffff)) throw invalid(`pattern ${i}: id must be an integer in [0, 2^31)`, i);
      if (!isUint(p.flags, 0xffffffff)) throw invalid(`pattern ${i}: flags must be a uint32`, i);
      expressions.push(expressionBytes(p.expression, i));
      flags[i] = p.flags;
      ids[i] = p.id;
    });
    return new Database(addon.compile(expressions, flags, ids, mode === 'stream'));
  }

  /** Loads bytes from serialize(); throws HS_DESERIALIZE if libhs rejects them. */
  static deserialize(bytes: Uint8Array): Database {
    return new Database(addon.deserialize(bytes));
  }

  serialize(): Buffer {
    return this.#native.serialize();
  }

  /** hs_database_size, in bytes. */
  get size(): number {
    return this.#native.size();
  }

  /** hs_database_info, e.g. "Version: 5.4.0 Features: AVX2 Mode: STREAM". */
  info(): string {
    return this.#native.info();
  }

  /**
   * The libhs version and CPU features the database was compiled for
   * (hs_database_info without the mode); equal to {@link hyperscanIdentity}
   * when it can run here as well as a fresh compile would.
   */
  identity(): string {
    return withoutMode(this.info());
  }

  /** Block mode only: every match as {id, to} (to = end offset) in report order. */
  scan(data: Uint8Array): BlockMatch[] {
    return this.#native.scan(data);
  }

  /**
   * Releases the database now (the GC finalizer does it otherwise). StreamSets
   * built on it keep their share and stay usable; memory goes with the last one.
   */
  close(): void {
    this.#native.close();
  }
}

export const databaseHandle = (db: Database): NativeDatabase => nativeOf(db);

let identity: string | undefined;

/**
 * What a serialised database depends on besides its patterns: the libhs
 * version and the CPU features it compiles for on this host, as
 * hs_database_info reports them ("Version: 5.4.0 Features: AVX2"). Found
 * once per process by compiling a one-pattern block database.
 */
export function hyperscanIdentity(): string {
  if (identity === undefined) {
    const probe = Database.compile([{ id: 0, expression: 'l7', flags: 0 }], 'block');
    try {
      identity = probe.identity();
    } finally {
      probe.close();
    }
  }
  return identity;
}

/** hs_database_info text without its " Mode: ..." part, which depends on the database, not the host. */
function withoutMode(info: string): string {
  const at = info.indexOf(' Mode:');
  return at >= 0 ? info.slice(0, at) : info;
}
