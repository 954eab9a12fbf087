import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The built `l7mesh edge …` commands as an operator runs them (npm test builds first).
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(repo, 'services/cli/bin/l7mesh.js');
const capture = join(repo, 'test/captures/mixed/lab-mixed.pcap');
const scratch = mkdtempSync(join(tmpdir(), 'l7mesh-cli-edge-'));
const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  rmSync(scratch, { recursive: true, force: true });
});

function l7mesh(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // Compiled pattern databases are cached in the scratch directory, not in ~/.cache.
    const env = { ...process.env, L7MESH_CACHE_DIR: join(scratch, 'hsdb-cache') };
    execFile(process.execPath, [bin, ...args], { cwd: repo, env, maxBuffer: 64 << 20, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

function writeConfig(name: string, text: string): string {
  const file = join(scratch, name);
  writeFileSync(file, text);
  return file;
}

const CONFIG = ['marks:', '  unknown: 0x0f00', '  protocols: { http: 0x0100, dns: 0x0400 }', '  groups:', '    mail: { mark: 0x1000, protocols: [smtp, imap, pop3] }', ''].join('\n');

describe('l7mesh edge rules', () => {
  it('prints the rules the edge would install, with the queue budget one above the classification budget', async () => {
    const r = await l7mesh('edge', 'rules', '--config', writeConfig('rules.yaml', `${CONFIG}queue: { range: [2, 5] }\nclassification: { maxPackets: 6 }\n`));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('*mangle');
    expect(r.stdout).toContain('-A L7MESH-QUEUE -p tcp -m connmark --mark 0x0/0xff00 -m connbytes --connbytes 0:7 --connbytes-mode packets --connbytes-dir both -j NFQUEUE --queue-balance 2:5 --queue-bypass');
    expect(r.stdout).toContain('-A L7MESH-PRE -j CONNMARK --restore-mark --nfmask 0xff00 --ctmask 0xff00');
    expect(r.stdout).toContain('-A FORWARD -j L7MESH-QUEUE');
  });

  it('prints the nft table of stateless mode: a flow set and a chain per mark (groups share one), transit only', async () => {
    const r = await l7mesh('edge', 'rules', '--config', writeConfig('stateless.yaml', `${CONFIG}netfilter: { mode: stateless }\nqueue: { num: 3 }\n`));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('table inet l7mesh {');
    for (const mark of ['0x100', '0x400', '0x1000', '0xf00']) {
      expect(r.stdout).toContain(`set flows4_${mark} {`);
      expect(r.stdout).toContain(`@flows4_${mark} goto mark_${mark}`);
    }
    expect(r.stdout).toContain('meta mark set meta mark and 0xffff00ff or 0x00000100');
    expect(r.stdout).toContain('fib daddr type local return');
    expect(r.stdout).toContain('queue num 3 bypass');
    expect(r.stdout).not.toContain('*mangle');
  });

  it('refuses --no-rules in stateless mode (its verdicts live in its own table), naming the file, exit status 1', async () => {
    const r = await l7mesh('edge', 'run', '--no-rules', '--config', writeConfig('stateless-norules.yaml', `${CONFIG}netfilter: { mode: stateless }\n`));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/stateless-norules\.yaml: --no-rules cannot be used with netfilter\.mode stateless/);
  });

  it('names the file and the key of a configuration error, exit status 2', async () => {
    const r = await l7mesh('edge', 'rules', '--config', writeConfig('bad.yaml', 'marks:\n  unknown: 0x0f00\n  groups:\n    p2p: { mark: 0x10000, protocols: [bittorrent] }\n'));
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('l7mesh: bad.yaml: marks.groups.p2p.mark: 0x10000 is outside the mask 0x0000ff00\n');
    const yaml = await l7mesh('edge', 'rules', '--config', writeConfig('syntax.yaml', 'marks:\n  unknown: [0x0f00\n'));
    expect(yaml.code).toBe(2);
    expect(yaml.stderr).toMatch(/^l7mesh: syntax\.yaml: line \d+, column \d+: YAML syntax error/);
  });

  it('validates the shipped example configuration', async () => {
    const r = await l7mesh('edge', 'rules', '--config', join(repo, 'services/edge/examples/edge.yaml'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--queue-num 0 --queue-bypass');
  });
});

describe('l7mesh edge run --replay', () => {
  it('ignores unknown.pat and unset.pat of an l7-protocols directory with a notice naming each file', async () => {
    const dir = join(scratch, 'l7-protocols', 'protocols');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'http.pat'), '# HTTP - web\nhttp\nhttp/(0\\.9|1\\.0|1\\.1) [1-5][0-9][0-9]|(get|post|head) [\\x09-\\x0d -~]* http/1\n');
    writeFileSync(join(dir, 'unknown.pat'), '# Unknown - not a pattern\nunknown\n.\n');
    writeFileSync(join(dir, 'unset.pat'), '# Unset - not a pattern\nunset\n.\n');
    const config = writeConfig('l7-protocols.yaml', `marks:\n  unknown: 0x0f00\n  protocols: { http: 0x0100 }\nclassification: { patterns: [${join(scratch, 'l7-protocols')}] }\n`);
    const r = await l7mesh('edge', 'run', '--config', config, '--replay', capture, '--json');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`notice: ${join(dir, 'unknown.pat')}: ignored: "unknown" is the verdict for flows past the limits, as in the kernel, not a pattern`);
    expect(r.stderr).toContain(`notice: ${join(dir, 'unset.pat')}: ignored:`);
    const flows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(flows.filter((f) => f.l7 === 'http')).toHaveLength(4);
    // Nothing is unknown at its first payload packet: only the packet limit (or inheritance from it) makes unknown.
    for (const f of flows.filter((f) => f.l7 === 'unknown')) expect(['packet-limit', 'byte-limit', 'inherited']).toContain(f.why.by);
  });

  it('gives the same verdict per flow as `l7mesh classify` on the lab capture, with the marks of the policy', async () => {
    const config = writeConfig('replay.yaml', CONFIG);
    const [classify, replay] = await Promise.all([l7mesh('classify', '--pcap', capture, '--json'), l7mesh('edge', 'run', '--config', config, '--replay', capture, '--json')]);
    expect(classify.code).toBe(0);
    expect(replay.code).toBe(0);
    const key = (f: { proto: string; src: string; sport: number; dst: string; dport: number; first_ts: number }) => `${f.proto} ${f.src}:${f.sport} -> ${f.dst}:${f.dport} @${f.first_ts}`;
    const parse = (out: string) => out.trim().split('\n').map((l) => JSON.parse(l));
    const expected = new Map(parse(classify.stdout).map((f) => [key(f), f.l7]));
    const got = parse(replay.stdout);
    expect(new Map(got.map((f) => [key(f), f.l7]))).toEqual(expected);
    for (const f of got) {
      if (f.l7 === 'http') expect(f).toMatchObject({ mark: '0x100', mark_state: 'packet' });
      if (f.l7 === 'dns') expect(f.mark).toBe('0x400');
      if (f.l7 === 'ssh') expect(f.mark).toBeUndefined();
    }
    // The stats table on stderr.
    expect(replay.stderr).toMatch(/│ http\s+│\s+0x100 │\s+- │\s+\d+ │/);
    expect(replay.stderr).toMatch(/│ mode\s+│\s+replay │/);
  });
});

describe('l7mesh edge flows / stats', () => {
  async function fakeEdge(routes: Record<string, unknown>): Promise<number> {
    const server = createServer((req, res) => {
      const body = routes[req.url ?? ''];
      if (body === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  }

  const flow = {
    proto: 'tcp', src: '198.18.70.2', sport: 45001, dst: '198.18.71.2', dport: 8080, l7: 'http', why: { by: 'http.pat', packet: 4 },
    packets: 6, bytes: 560, packets_orig: 4, packets_reply: 2, bytes_orig: 300, bytes_reply: 260, first_ts: 1, last_ts: 2, queued: 6, mark: '0x100', mark_state: 'packet',
  };
  const stats = {
    mode: 'nfqueue', started_at: '2026-01-01T00:00:00.000Z', uptime_sec: 12.5, queue: { first: 3, last: 3 }, batches: 4,
    packets: { received: 20, bytes: 4000, undecodable: 1, malformed: 1, not_ip: 0, not_tcp_udp: 0, unsupported_link: 0, fragments_held: 0 },
    verdicts: { accepted: 20, marked: 9 }, conntrack: { ok: 1, failed: 0, in_flight: 0 }, flows: { active: 2, max: 262144 },
    protocols: [{ l7: 'http', mark: '0x100', flows: 2, packets: 12, bytes: 1500 }], live_unset: { flows: 1, packets: 3, bytes: 180 }, source: { queue_dropped: 0 },
  };

  it('lists the live flows like conntrack -L, with the l7 verdict and mark', async () => {
    const port = await fakeEdge({ '/flows': [flow], '/stats': stats });
    const config = writeConfig('client.yaml', `${CONFIG}metrics: { port: ${port} }\n`);
    const r = await l7mesh('edge', 'flows', '--config', config);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ipv4 tcp src=198\.18\.70\.2 dst=198\.18\.71\.2 sport=45001 dport=8080 packets=6 bytes=560 queued=6 l7=http mark=0x100\(packet\) why=http\.pat@4 idle=\d+s\n$/);
    const json = await l7mesh('edge', 'flows', '--config', config, '--json');
    expect(JSON.parse(json.stdout)).toEqual(flow);
    const s = await l7mesh('edge', 'stats', '--config', config);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/│ http\s+│\s+0x100 │\s+- │\s+2 │\s+12 │\s+1500 │/);
    expect(s.stdout).toMatch(/│ unset \(live\)\s+│\s+- │\s+- │\s+1 │\s+3 │\s+180 │/);
    expect(s.stdout).toMatch(/│ mode\s+│\s+nfqueue \(queue 3\) │/);
    expect(s.stdout).toMatch(/│ nfqueue queue dropped\s+│\s+0 │/);
  });

  it('says when no edge listens on the configured loopback port (exit status 1)', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const r = await l7mesh('edge', 'stats', '--config', writeConfig('none.yaml', `${CONFIG}metrics: { port: ${port} }\n`));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no edge is listening on 127.0.0.1:${port}`);
  });
});
