import type { KV } from '@nats-io/kv';
import { decodeMemberHeartbeat, encodeMemberHeartbeat, MemberRole, type MemberHeartbeat } from '@l7mesh/wire';

/** Membership bucket keys: `worker.<id>` and `edge.<id>`. */
export function memberKey(role: MemberRole, id: string): string {
  return `${role === MemberRole.Worker ? 'worker' : 'edge'}.${id}`;
}

export interface MembershipOptions {
  kv: KV;
  /** This member's heartbeat, made anew every beat. */
  heartbeat: () => MemberHeartbeat;
  /** A member whose last heartbeat arrived longer ago than this is gone (ms). */
  timeoutMs: number;
  /** Heartbeat period (ms). */
  periodMs: number;
  /** Told whenever the set of live workers changes (sorted ids); without it, the bucket is not watched (an edge only beats). */
  onWorkersChanged?: (workers: string[]) => void;
  /** Heartbeats that could not be decoded (a foreign writer): counted, never fatal. */
  onBadHeartbeat?: (key: string, err: unknown) => void;
}

/**
 * Live membership from heartbeats in a KV bucket. Each member writes its
 * heartbeat every period; everyone watches the bucket and drops a member
 * whose heartbeat is older than the timeout by its own clock (when a
 * heartbeat arrived, not the time written in it, so clock skew between
 * hosts does not matter). NATS 2.9 sends no event when an entry ages out
 * of a bucket and has no per-key TTL, so age is judged here.
 */
export class Membership {
  /** Last heartbeat of every member seen, with the local time it arrived. */
  readonly members = new Map<string, { beat: MemberHeartbeat; seenMs: number }>();
  private workers: string[] = [];
  private beatTimer: NodeJS.Timeout | undefined;
  private watchDone: Promise<void> | undefined;
  private stopWatch: (() => void) | undefined;

  constructor(private readonly options: MembershipOptions) {}

  /** Live workers now (sorted). */
  get liveWorkers(): readonly string[] {
    return this.workers;
  }

  async start(): Promise<void> {
    await this.beat();
    if (!this.options.onWorkersChanged) {
      this.beatTimer = setInterval(() => this.beat().catch(() => undefined), this.options.periodMs);
      return;
    }
    const watch = await this.options.kv.watch({ key: '>' });
    this.stopWatch = () => watch.stop();
    this.watchDone = (async () => {
      for await (const e of watch) {
        if (e.operation !== 'PUT') {
          this.members.delete(e.key);
          continue;
        }
        try {
          this.members.set(e.key, { beat: decodeMemberHeartbeat(e.value), seenMs: Date.now() });
        } catch (err) {
          this.options.onBadHeartbeat?.(e.key, err);
        }
      }
    })();
    this.beatTimer = setInterval(() => {
      this.beat().catch(() => undefined); // a beat lost to a reconnect is made up by the next
      this.review();
    }, this.options.periodMs);
    this.review();
  }

  /** Drops members past the timeout and reports a changed worker set. */
  review(): void {
    const now = Date.now();
    const self = this.options.heartbeat();
    const live: string[] = [];
    for (const [key, m] of this.members) {
      if (now - m.seenMs > this.options.timeoutMs && key !== memberKey(self.role, self.id)) {
        this.members.delete(key);
        continue;
      }
      if (m.beat.role === MemberRole.Worker) live.push(m.beat.id);
    }
    // This worker counts from its first beat, before the watch echoes it.
    if (self.role === MemberRole.Worker && !live.includes(self.id)) live.push(self.id);
    live.sort();
    if (live.length !== this.workers.length || live.some((w, i) => w !== this.workers[i])) {
      this.workers = live;
      this.options.onWorkersChanged?.(live);
    }
  }

  private async beat(): Promise<void> {
    const b = this.options.heartbeat();
    await this.options.kv.put(memberKey(b.role, b.id), encodeMemberHeartbeat(b));
  }

  /** Stops beating and watching; `leave` deletes this member's key so the others react at once. */
  async stop(leave: boolean): Promise<void> {
    if (this.beatTimer) clearInterval(this.beatTimer);
    this.stopWatch?.();
    await this.watchDone?.catch(() => undefined);
    if (leave) {
      const b = this.options.heartbeat();
      await this.options.kv.delete(memberKey(b.role, b.id)).catch(() => undefined);
    }
  }
}
