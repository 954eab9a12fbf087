/** The lab itself: its address rule, and a cleanup that leaves nothing behind. */
import { afterAll, describe, expect, it } from 'vitest';
import { inBenchmarkRange, NetnsLab, poll, run } from '@l7mesh/netns';

const lab = new NetnsLab('l7netns');
afterAll(() => lab.cleanup());

async function namespaces(): Promise<string[]> {
  return (await run(['ip', 'netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
}

describe('inBenchmarkRange', () => {
  it('takes 198.18.0.0/15 and 2001:db8::/32 addresses and prefixes within them only', () => {
    for (const ok of ['198.18.0.1', '198.19.255.254', '198.18.70.2/24', '198.18.0.0/15', '198.19.1.1/32', '2001:db8::1', '2001:db8:80::2/64', '2001:0db8:ffff::/48', '2001:db8::/32']) {
      expect(inBenchmarkRange(ok), ok).toBe(true);
    }
    for (const bad of ['198.17.255.255', '198.20.0.1', '10.0.0.1', '198.18.256.1', '198.18.0.0/14', '198.18.1.1/33', '198.18.1', ' 198.18.1.1', '2001:db9::1', '2001:db80::1', '2001:db8::/31', '2001:db8::1/129', 'fe80::1', '2001:db8::g']) {
      expect(inBenchmarkRange(bad), bad).toBe(false);
    }
  });
});

describe('NetnsLab', () => {
  it('refuses a link or a route that leaves the range, before configuring anything', async () => {
    const a = await lab.ns('a');
    const b = await lab.ns('b');
    await expect(lab.link(a, 'eth0', '10.1.1.1/24', b, 'eth0', '198.18.1.2/24')).rejects.toThrow('10.1.1.1/24 is outside 198.18.0.0/15');
    expect((await lab.exec(a, ['ip', '-o', 'link', 'show'])).stdout).not.toContain('eth0');
    await lab.link(a, 'eth0', '198.18.1.1/24', b, 'eth0', '198.18.1.2/24');
    await expect(lab.route(a, '0.0.0.0/0', '198.18.1.2')).rejects.toThrow('leaves 198.18.0.0/15');
    expect((await lab.exec(b, ['ip', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout).toContain('inet 198.18.1.2/24');
  });

  it('throws with the command and its stderr when a command fails, unless allowFail', async () => {
    await expect(lab.sh(['ip', 'netns', 'exec', `${lab.prefix}missing`, 'true'])).rejects.toThrow(/ip netns exec .*missing true failed \(\d+\): .+/);
    expect((await lab.sh(['false'], { allowFail: true })).code).toBe(1);
  });

  it('cleanup kills what runs in its namespaces (forked daemons too) and deletes them', async () => {
    const own = new NetnsLab('l7netns');
    const ns = await own.ns('x');
    const child = own.spawn(ns, ['sleep', '300']);
    // A daemon that left its parent: only `ip netns pids` finds it.
    await own.exec(ns, ['sh', '-c', 'setsid sleep 301 >/dev/null 2>&1 < /dev/null &']);
    expect(await poll(async () => (await run(['ip', 'netns', 'pids', ns])).stdout.trim().split(/\s+/).length >= 2, 3_000)).toBe(true);
    expect(await namespaces()).toContain(ns);
    await own.cleanup();
    expect((await child.exit(5_000)).signal).toBe('SIGKILL');
    expect(await namespaces()).not.toContain(ns);
    expect((await run(['pgrep', '-f', '^sleep 301$'])).stdout).toBe('');
    await own.cleanup(); // a second call finds nothing to do and does not throw
  });
});
