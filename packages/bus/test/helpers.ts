import type { Bus, Msg, Subscription } from '@l7mesh/bus';

/** Waits (bounded) until `probe` is truthy; throws with `what` when the time is up. */
export async function until(probe: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Reads an iterator subscription one message at a time, with a time limit. */
export class Inbox {
  readonly #it: AsyncIterator<Msg>;
  constructor(readonly sub: Subscription) {
    this.#it = sub[Symbol.asyncIterator]();
  }

  async next(timeoutMs = 5_000): Promise<Msg> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const r = await Promise.race([
        this.#it.next(),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no message on ${this.sub.getSubject()} within ${timeoutMs} ms`)), timeoutMs))),
      ]);
      if (r.done) throw new Error('subscription closed');
      return r.value;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Publishes `text` on `bus` and expects it back in `inbox`. */
export async function roundTrip(pub: Bus, inbox: Inbox, subject: string, text: string): Promise<void> {
  pub.nc.publish(subject, text);
  await pub.nc.flush();
  const m = await inbox.next();
  if (m.string() !== text) throw new Error(`got ${m.string()}, want ${text}`);
}
