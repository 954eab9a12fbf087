/**
 * What the index needs of an entry: its key. An IPv4 key is three int32
 * words (lower address, higher address, both ports: the lower endpoint's
 * port in the high half) and the protocol; an IPv6 key is a string (then
 * `k0`), kept in a Map.
 */
export interface IndexKeyed {
  readonly k0: number | string;
  readonly k1: number;
  readonly k2: number;
  readonly protocol: number;
}

/**
 * The flow table's index: canonical flow key -> entry. IPv4 keys, the bulk
 * of traffic, live in an open-addressing hash table (linear probing) whose
 * buckets hold only the entries: a lookup compares the entry's own key words,
 * so no key is stored twice and a bucket costs one pointer. A lookup per
 * packet allocates nothing and hashes no string. IPv6 keys, 37 bytes, use a
 * Map of key strings.
 */
export class FlowIndex<T extends IndexKeyed> {
  private capacity = 1024;
  private mask = this.capacity - 1;
  private values: (T | undefined)[] = new Array<T | undefined>(this.capacity).fill(undefined);
  private v4Count = 0;
  private readonly v6 = new Map<string, T>();

  get size(): number {
    return this.v4Count + this.v6.size;
  }

  /** Bucket of an IPv4 key, or -1. */
  private findV4(a: number, b: number, ports: number, proto: number): number {
    const values = this.values;
    let i = hashWords(a, b, ports, proto) & this.mask;
    for (;;) {
      const v = values[i];
      if (v === undefined) return -1;
      if (v.k0 === a && v.k2 === ports && v.k1 === b && v.protocol === proto) return i;
      i = (i + 1) & this.mask;
    }
  }

  getV4(a: number, b: number, ports: number, proto: number): T | undefined {
    const i = this.findV4(a, b, ports, proto);
    return i < 0 ? undefined : this.values[i];
  }

  /** Adds (or replaces) the entry under its own IPv4 key. */
  setV4(value: T): void {
    if ((this.v4Count + 1) * 2 > this.capacity) this.grow();
    const a = value.k0 as number;
    const { k1: b, k2: ports, protocol: proto } = value;
    const values = this.values;
    let i = hashWords(a, b, ports, proto) & this.mask;
    for (;;) {
      const v = values[i];
      if (v === undefined) break;
      if (v.k0 === a && v.k2 === ports && v.k1 === b && v.protocol === proto) {
        values[i] = value;
        return;
      }
      i = (i + 1) & this.mask;
    }
    values[i] = value;
    this.v4Count++;
  }

  deleteV4(a: number, b: number, ports: number, proto: number): void {
    let i = this.findV4(a, b, ports, proto);
    if (i < 0) return;
    this.v4Count--;
    // Backward-shift deletion: linear probing stays tombstone-free, so lookups
    // never slow down as flows come and go.
    const values = this.values;
    for (let j = (i + 1) & this.mask; ; j = (j + 1) & this.mask) {
      const v = values[j];
      if (v === undefined) break;
      const home = hashWords(v.k0 as number, v.k1, v.k2, v.protocol) & this.mask;
      // Move j into the hole at i when its home does not lie in (i, j].
      if (((j - home) & this.mask) >= ((j - i) & this.mask)) {
        values[i] = v;
        i = j;
      }
    }
    values[i] = undefined;
  }

  getV6(key: string): T | undefined {
    return this.v6.get(key);
  }

  setV6(key: string, value: T): void {
    this.v6.set(key, value);
  }

  deleteV6(key: string): void {
    this.v6.delete(key);
  }

  /** Every entry, in no particular order (a new array). */
  all(): T[] {
    const out: T[] = [];
    for (const v of this.values) if (v !== undefined) out.push(v);
    for (const v of this.v6.values()) out.push(v);
    return out;
  }

  /** Forgets every entry (and the room grown for them). */
  clear(): void {
    this.capacity = 1024;
    this.mask = this.capacity - 1;
    this.values = new Array<T | undefined>(this.capacity).fill(undefined);
    this.v4Count = 0;
    this.v6.clear();
  }

  private grow(): void {
    const old = this.values;
    this.capacity *= 2;
    this.mask = this.capacity - 1;
    this.values = new Array<T | undefined>(this.capacity).fill(undefined);
    this.v4Count = 0;
    for (const v of old) if (v !== undefined) this.setV4(v);
  }
}

function hashWords(a: number, b: number, ports: number, proto: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b ^ 0x5bd1e995, 0x85ebca77) ^ Math.imul(ports, 0xc2b2ae3d) ^ proto;
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}
