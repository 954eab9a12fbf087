/**
 * The flow table's index: canonical flow key -> entry. IPv4 keys, the bulk
 * of traffic, live in an open-addressing hash table over four 32-bit words
 * (lower address, higher address, both ports, protocol), so a lookup per
 * packet allocates nothing and hashes no string. IPv6 keys, 37 bytes, use a
 * Map of key strings.
 */
export class FlowIndex<T> {
  private capacity = 1024;
  private mask = this.capacity - 1;
  /** Four words per bucket; protocol word 0 marks an empty bucket. */
  private words = new Uint32Array(this.capacity * 4);
  private values: (T | undefined)[] = new Array<T | undefined>(this.capacity);
  private v4Count = 0;
  private readonly v6 = new Map<string, T>();

  get size(): number {
    return this.v4Count + this.v6.size;
  }

  /** Bucket of an IPv4 key, or -1. */
  private findV4(a: number, b: number, ports: number, proto: number): number {
    const w = this.words;
    let i = hashWords(a, b, ports, proto) & this.mask;
    for (;;) {
      const at = i * 4;
      const p = w[at + 3]!;
      if (p === 0) return -1;
      if (p === proto && w[at] === a && w[at + 1] === b && w[at + 2] === ports) return i;
      i = (i + 1) & this.mask;
    }
  }

  getV4(a: number, b: number, ports: number, proto: number): T | undefined {
    const i = this.findV4(a, b, ports, proto);
    return i < 0 ? undefined : this.values[i];
  }

  setV4(a: number, b: number, ports: number, proto: number, value: T): void {
    if ((this.v4Count + 1) * 2 > this.capacity) this.grow();
    const w = this.words;
    let i = hashWords(a, b, ports, proto) & this.mask;
    for (;;) {
      const at = i * 4;
      const p = w[at + 3]!;
      if (p === 0) break;
      if (p === proto && w[at] === a && w[at + 1] === b && w[at + 2] === ports) {
        this.values[i] = value;
        return;
      }
      i = (i + 1) & this.mask;
    }
    const at = i * 4;
    w[at] = a;
    w[at + 1] = b;
    w[at + 2] = ports;
    w[at + 3] = proto;
    this.values[i] = value;
    this.v4Count++;
  }

  deleteV4(a: number, b: number, ports: number, proto: number): void {
    let i = this.findV4(a, b, ports, proto);
    if (i < 0) return;
    this.v4Count--;
    // Backward-shift deletion: linear probing stays tombstone-free, so lookups
    // never slow down as flows come and go.
    const w = this.words;
    for (let j = (i + 1) & this.mask; ; j = (j + 1) & this.mask) {
      const at = j * 4;
      if (w[at + 3] === 0) break;
      const home = hashWords(w[at]!, w[at + 1]!, w[at + 2]!, w[at + 3]!) & this.mask;
      // Move j into the hole at i when its home does not lie in (i, j].
      if (((j - home) & this.mask) >= ((j - i) & this.mask)) {
        w.copyWithin(i * 4, at, at + 4);
        this.values[i] = this.values[j];
        i = j;
      }
    }
    w[i * 4 + 3] = 0;
    this.values[i] = undefined;
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

  private grow(): void {
    const oldWords = this.words;
    const oldValues = this.values;
    const oldCapacity = this.capacity;
    this.capacity *= 2;
    this.mask = this.capacity - 1;
    this.words = new Uint32Array(this.capacity * 4);
    this.values = new Array<T | undefined>(this.capacity);
    this.v4Count = 0;
    for (let i = 0; i < oldCapacity; i++) {
      const at = i * 4;
      if (oldWords[at + 3] !== 0) this.setV4(oldWords[at]!, oldWords[at + 1]!, oldWords[at + 2]!, oldWords[at + 3]!, oldValues[i]!);
    }
  }
}

function hashWords(a: number, b: number, ports: number, proto: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b ^ 0x5bd1e995, 0x85ebca77) ^ Math.imul(ports, 0xc2b2ae3d) ^ proto;
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}
