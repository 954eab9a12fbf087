import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { arch, cpus, homedir } from 'node:os';
import { join } from 'node:path';
import { Database, hyperscanIdentity } from '@l7mesh/hyperscan';

/** Environment variable naming the cache directory; `off` turns the cache off. */
export const CACHE_DIR_ENV = 'L7MESH_CACHE_DIR';

/** Bumped whenever the entry layout or what the key covers changes. */
const FORMAT = 1;
const MAGIC = Buffer.from('L7MESH-HSDB\n', 'latin1');
/** Entries kept per directory; the least recently written go first. */
const MAX_ENTRIES = 64;

/** One database to compile: its expressions, flags and ids, in order. */
export interface DatabaseSpec {
  expressions: readonly string[];
  flags: readonly number[];
}

/** How a {@link DatabaseCache.load} went. */
export type CacheOutcome = 'hit' | 'miss' | 'stale' | 'corrupt';

/** What is stored besides the databases: the patterns libhs rejected, by candidate index. */
export interface CachedCompile {
  databases: Database[];
  rejected: { candidate: number; reason: string }[];
}

interface EntryHeader {
  format: number;
  key: string;
  identity: string;
  sizes: number[];
  rejected: { candidate: number; reason: string }[];
  /** Of the other fields (as JSON, in this order) and the database bytes: nothing in an entry goes unchecked. */
  sha256: string;
}

function digestOf(h: Omit<EntryHeader, 'sha256'>, body: Uint8Array): string {
  const fields = JSON.stringify([h.format, h.key, h.identity, h.sizes, h.rejected.map((r) => [r.candidate, r.reason])]);
  return createHash('sha256').update(fields).update('\n').update(body).digest('hex');
}

/**
 * Compiled Hyperscan databases on disk, so a process that loads a pattern
 * set it has seen before skips the compile. An entry is keyed by everything
 * the bytes depend on (the expressions, flags and order; the libhs version
 * and CPU features; the machine) and is checked before use (magic, key,
 * a SHA-256 over the header fields and the database bytes, sizes, libhs'
 * own deserialisation, the identity of what came back): anything off and
 * the caller compiles afresh and the entry is rewritten. Writes go to a temporary file renamed into place, so a reader
 * never sees half an entry. Failing to write is not an error: the cache is
 * only a shortcut.
 */
export class DatabaseCache {
  /** Outcome of the last load (for tests and diagnostics). */
  lastOutcome: CacheOutcome | undefined;

  constructor(readonly dir: string) {}

  /**
   * The cache at `$L7MESH_CACHE_DIR`, else `$XDG_CACHE_HOME/l7mesh`, else
   * `~/.cache/l7mesh`; undefined when L7MESH_CACHE_DIR is `off` or no
   * location is known.
   */
  static fromEnvironment(env: NodeJS.ProcessEnv = process.env): DatabaseCache | undefined {
    const own = env[CACHE_DIR_ENV];
    if (own !== undefined && own !== '') return own === 'off' ? undefined : new DatabaseCache(own);
    const xdg = env.XDG_CACHE_HOME;
    if (xdg !== undefined && xdg.startsWith('/')) return new DatabaseCache(join(xdg, 'l7mesh'));
    let home: string;
    try {
      home = env.HOME || homedir();
    } catch {
      return undefined;
    }
    return home ? new DatabaseCache(join(home, '.cache', 'l7mesh')) : undefined;
  }

  /** The key of a list of databases compiled on this host (hex SHA-256). */
  keyOf(specs: readonly DatabaseSpec[]): string {
    const h = createHash('sha256');
    const cpu = cpus()[0]?.model ?? '';
    h.update(`l7mesh hyperscan cache ${FORMAT}\n${hyperscanIdentity()}\n${arch()}\n${cpu}\n${specs.length}\n`);
    for (const spec of specs) {
      h.update(`db ${spec.expressions.length}\n`);
      spec.expressions.forEach((expression, i) => {
        h.update(`${spec.flags[i]} ${expression.length} `);
        h.update(expression, 'latin1');
        h.update('\n');
      });
    }
    return h.digest('hex');
  }

  private pathOf(key: string): string {
    return join(this.dir, `${key}.hsdb`);
  }

  /** The stored databases for `key` (stream mode, one or two), or undefined: absent, stale or damaged. */
  load(key: string): CachedCompile | undefined {
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.pathOf(key));
    } catch {
      this.lastOutcome = 'miss';
      return undefined;
    }
    const entry = this.decode(bytes, key);
    if (typeof entry === 'string') {
      this.lastOutcome = entry;
      return undefined;
    }
    this.lastOutcome = 'hit';
    return entry;
  }

  private decode(bytes: Buffer, key: string): CachedCompile | 'stale' | 'corrupt' {
    if (bytes.length < MAGIC.length + 4 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return 'corrupt';
    const headerLength = bytes.readUInt32LE(MAGIC.length);
    const bodyAt = MAGIC.length + 4 + headerLength;
    if (bodyAt > bytes.length) return 'corrupt';
    let header: EntryHeader;
    try {
      header = JSON.parse(bytes.toString('utf8', MAGIC.length + 4, bodyAt)) as EntryHeader;
    } catch {
      return 'corrupt';
    }
    if (typeof header !== 'object' || header === null) return 'corrupt';
    if (header.format !== FORMAT || header.key !== key || header.identity !== hyperscanIdentity()) return 'stale';
    const sizes = header.sizes;
    if (!Array.isArray(sizes) || (sizes.length !== 1 && sizes.length !== 2) || !sizes.every((n) => Number.isInteger(n) && n > 0)) return 'corrupt';
    if (bodyAt + sizes.reduce((a, b) => a + b, 0) !== bytes.length) return 'corrupt';
    const body = bytes.subarray(bodyAt);
    if (!Array.isArray(header.rejected) || !header.rejected.every((r) => Number.isInteger(r?.candidate) && r.candidate >= 0 && typeof r.reason === 'string')) {
      return 'corrupt';
    }
    if (digestOf(header, body) !== header.sha256) return 'corrupt';
    const databases: Database[] = [];
    let at = 0;
    try {
      for (const size of sizes) {
        const db = Database.deserialize(body.subarray(at, at + size));
        databases.push(db);
        at += size;
        if (db.mode !== 'stream' || db.identity() !== header.identity) throw new Error('not the database that was stored');
      }
    } catch {
      for (const db of databases) db.close();
      return 'corrupt';
    }
    return { databases, rejected: header.rejected };
  }

  /** Stores the compile's result under `key`; false when it could not be written. */
  store(key: string, compiled: CachedCompile): boolean {
    const blobs = compiled.databases.map((db) => db.serialize());
    const body = Buffer.concat(blobs);
    const fields = { format: FORMAT, key, identity: hyperscanIdentity(), sizes: blobs.map((b) => b.length), rejected: compiled.rejected };
    const header: EntryHeader = { ...fields, sha256: digestOf(fields, body) };
    const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(headerBytes.length);
    const path = this.pathOf(key);
    const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      writeFileSync(temp, Buffer.concat([MAGIC, length, headerBytes, body]), { mode: 0o600 });
      renameSync(temp, path);
    } catch {
      try {
        unlinkSync(temp);
      } catch {
        // never written
      }
      return false;
    }
    this.prune();
    return true;
  }

  /** Keeps the newest MAX_ENTRIES entries; leftovers of crashed writers go too once old. */
  private prune(): void {
    try {
      const names = readdirSync(this.dir).filter((n) => n.endsWith('.hsdb') || n.endsWith('.tmp'));
      if (names.length <= MAX_ENTRIES) return;
      const aged = names
        .map((name) => {
          try {
            return { name, mtime: statSync(join(this.dir, name)).mtimeMs };
          } catch {
            return { name, mtime: 0 };
          }
        })
        .sort((a, b) => b.mtime - a.mtime);
      for (const { name } of aged.slice(MAX_ENTRIES)) {
        try {
          unlinkSync(join(this.dir, name));
        } catch {
          // another process got there first
        }
      }
    } catch {
      // a cache that cannot be listed is simply not pruned
    }
  }
}
