import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyEdgeRules,
  listInstalled,
  NetfilterError,
  removeEdgeRules,
  renderEdgeRules,
  renderTcHtbExample,
  type EdgeRulesConfig,
} from '@l7mesh/netfilter';
import { commitRules } from '../src/edgeRules.js';
import { NetnsLab } from '@l7mesh/netns';
import { chainRules } from './iptablesSave.js';

const lab = new NetnsLab('l7nf');
afterAll(() => lab.cleanup());

/** iptables-save (or ip6tables-save) of one table, without the timestamp comments. */
async function saved(ns: string, table: 'mangle' | 'filter' | 'raw', tool = 'iptables-save'): Promise<string> {
  const { stdout } = await lab.exec(ns, [tool, '-t', table]);
  return stdout
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
}

const mangle = (ns: string, tool?: string) => saved(ns, 'mangle', tool);

/** The operator's own rules, present before l7mesh arrives. */
const OPERATOR_RULES = [
  ['-t', 'mangle', '-A', 'PREROUTING', '-i', 'veth0', '-j', 'MARK', '--set-xmark', '0x1/0x1'],
  ['-t', 'mangle', '-A', 'FORWARD', '-p', 'tcp', '-m', 'tcp', '--tcp-flags', 'SYN,RST', 'SYN', '-j', 'TCPMSS', '--clamp-mss-to-pmtu'],
  ['-t', 'mangle', '-A', 'POSTROUTING', '-o', 'veth1', '-j', 'DSCP', '--set-dscp', '0x0a'],
  ['-t', 'filter', '-A', 'FORWARD', '-m', 'mark', '--mark', '0x1/0x1', '-j', 'ACCEPT'],
];

async function withOperatorRules(ns: string): Promise<void> {
  for (const rule of OPERATOR_RULES) await lab.exec(ns, ['iptables', ...rule]);
}

async function expectError(p: Promise<unknown>, code: string): Promise<NetfilterError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NetfilterError);
  expect((err as NetfilterError).code).toBe(code);
  return err as NetfilterError;
}

describe('apply and remove in a namespace', () => {
  let ns = '';
  let before = '';
  let filterBefore = '';
  const config: EdgeRulesConfig = { queue: { balance: [0, 3] }, packets: 8 };

  beforeAll(async () => {
    ns = await lab.ns();
    await withOperatorRules(ns);
    before = await mangle(ns);
    filterBefore = await saved(ns, 'filter');
  });

  it('installs our chains and jumps, keeping the operator rules in place, and switches on accounting', async () => {
    expect((await lab.exec(ns, ['sysctl', '-n', 'net.netfilter.nf_conntrack_acct'])).stdout.trim()).toBe('0');
    const result = await applyEdgeRules(config, { netns: ns });
    expect(result.accounting).toBe('switched-on');
    expect(result.families.ipv4!.replacedJumps).toBe(0);
    expect((await lab.exec(ns, ['sysctl', '-n', 'net.netfilter.nf_conntrack_acct'])).stdout.trim()).toBe('1');

    const save = await mangle(ns);
    expect(chainRules(save, 'PREROUTING')).toEqual(['-A PREROUTING -j L7MESH-PRE', '-A PREROUTING -i veth0 -j MARK --set-xmark 0x1/0x1']);
    expect(chainRules(save, 'FORWARD')).toEqual([
      '-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu',
      '-A FORWARD -j L7MESH-QUEUE',
    ]);
    expect(chainRules(save, 'POSTROUTING')).toEqual(['-A POSTROUTING -j L7MESH-POST', '-A POSTROUTING -o veth1 -j DSCP --set-dscp 0x0a']);
    expect(chainRules(save, 'INPUT')).toEqual([]);
    expect(chainRules(save, 'OUTPUT')).toEqual([]);
    // Our chains hold exactly the rendered rules, word for word as iptables-save prints them.
    const rendered = renderEdgeRules(config).ipv4!.split('\n').filter((l) => /^-A L7MESH-/.test(l));
    expect(save.split('\n').filter((l) => /^-A L7MESH-/.test(l)).sort()).toEqual([...rendered].sort());
    expect(await saved(ns, 'filter')).toBe(filterBefore);

    const listed = (await listInstalled({ netns: ns })).ipv4!;
    expect(listed.installed).toBe(true);
    expect(listed.chains.map((c) => c.name).sort()).toEqual(['L7MESH-POST', 'L7MESH-PRE', 'L7MESH-QUEUE']);
    expect(listed.jumps.map((j) => `${j.chain}->${j.target}`)).toEqual([
      'PREROUTING->L7MESH-PRE',
      'FORWARD->L7MESH-QUEUE',
      'POSTROUTING->L7MESH-POST',
    ]);
  });

  it('is idempotent: applying again leaves exactly one jump per built-in chain', async () => {
    const first = await mangle(ns);
    const again = await applyEdgeRules(config, { netns: ns });
    expect(again.accounting).toBe('already-on');
    expect(again.families.ipv4!.replacedJumps).toBe(3);
    // the committed input deleted the old jumps in the same transaction
    expect(again.families.ipv4!.input).toContain('-D PREROUTING -j L7MESH-PRE\n');
    await applyEdgeRules(config, { netns: ns });
    const save = await mangle(ns);
    expect(save).toBe(first);
    for (const chain of ['PREROUTING', 'FORWARD', 'POSTROUTING']) {
      expect(chainRules(save, chain).filter((l) => l.includes('L7MESH'))).toHaveLength(1);
    }
  });

  it('follows a changed configuration and drops chains of an older layout', async () => {
    await applyEdgeRules({ ...config, hooks: ['FORWARD', 'INPUT', 'OUTPUT'] }, { netns: ns });
    let save = await mangle(ns);
    expect(chainRules(save, 'INPUT')).toEqual(['-A INPUT -j L7MESH-QUEUE']);
    expect(chainRules(save, 'OUTPUT')).toEqual(['-A OUTPUT -j L7MESH-PRE', '-A OUTPUT -j L7MESH-QUEUE']);

    // an older release's chain, still referenced from FORWARD
    await lab.exec(ns, ['iptables', '-t', 'mangle', '-N', 'L7MESH-OLD']);
    await lab.exec(ns, ['iptables', '-t', 'mangle', '-A', 'L7MESH-OLD', '-j', 'RETURN']);
    await lab.exec(ns, ['iptables', '-t', 'mangle', '-I', 'FORWARD', '-p', 'udp', '-j', 'L7MESH-OLD']);

    const result = await applyEdgeRules(config, { netns: ns });
    expect(result.families.ipv4!.removedChains).toEqual(['L7MESH-OLD']);
    save = await mangle(ns);
    expect(chainRules(save, 'INPUT')).toEqual([]);
    expect(chainRules(save, 'OUTPUT')).toEqual([]);
    expect(save).not.toContain('L7MESH-OLD');
    expect(chainRules(save, 'FORWARD')).toEqual([
      '-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu',
      '-A FORWARD -j L7MESH-QUEUE',
    ]);
  });

  it('a failed transaction changes nothing and reports the line', async () => {
    const installed = await mangle(ns);
    // bypasses the configuration checks: queue number out of range
    const err = await expectError(
      commitRules('NF_APPLY', 'ipv4', { netns: ns }, () =>
        ['*mangle', '-D PREROUTING -j L7MESH-PRE', '-F L7MESH-QUEUE', '-A L7MESH-QUEUE -p udp -j NFQUEUE --queue-num 70000 --queue-bypass', 'COMMIT', ''].join('\n'),
      ),
      'NF_APPLY',
    );
    expect(err.family).toBe('ipv4');
    expect(err.line).toBe(4);
    expect(err.lineText).toContain('--queue-num 70000');
    expect(err.message).toContain('at line 4');
    expect(err.message).toMatch(/out of range/);
    expect(err.stderr).toContain('Error occurred at line: 4');
    expect(err.input).toContain('--queue-num 70000');
    expect(await mangle(ns)).toBe(installed);
  });

  it('retries when the table changed between reading and committing', async () => {
    let calls = 0;
    const result = await commitRules('NF_APPLY', 'ipv4', { netns: ns }, (installed) => {
      calls++;
      // first attempt: a delete of a jump someone else removed meanwhile
      const stale = calls === 1 ? ['-D INPUT -j L7MESH-QUEUE'] : [];
      expect(installed.jumps).toHaveLength(3);
      return ['*mangle', ...stale, 'COMMIT', ''].join('\n');
    });
    expect(calls).toBe(2);
    expect(result.input).toBe('*mangle\nCOMMIT\n');
  });

  it('removes the jumps and our chains, leaving the operator rules as they were', async () => {
    const result = await removeEdgeRules(config, { netns: ns });
    expect(result.families.ipv4!.removedJumps).toBe(3);
    expect([...result.families.ipv4!.removedChains].sort()).toEqual(['L7MESH-POST', 'L7MESH-PRE', 'L7MESH-QUEUE']);
    const save = await mangle(ns);
    expect(save).not.toContain('L7MESH');
    expect(save).toBe(before);
    expect(await saved(ns, 'filter')).toBe(filterBefore);
    expect((await listInstalled({ netns: ns })).ipv4!.installed).toBe(false);
  });

  it('remove is harmless when nothing is installed', async () => {
    const result = await removeEdgeRules(config, { netns: ns });
    expect(result.families.ipv4).toEqual({ input: undefined, removedJumps: 0, removedChains: [] });
    expect(await mangle(ns)).toBe(before);
    const fresh = await lab.ns();
    const clean = await mangle(fresh);
    await removeEdgeRules({}, { netns: fresh });
    expect(await mangle(fresh)).toBe(clean);
  });
});

describe('IPv6', () => {
  it('installs and removes with ip6tables-restore as well', async () => {
    const ns = await lab.ns();
    await lab.exec(ns, ['ip6tables', '-t', 'mangle', '-A', 'PREROUTING', '-i', 'veth0', '-j', 'MARK', '--set-xmark', '0x1/0x1']);
    const v6before = await mangle(ns, 'ip6tables-save');
    const config: EdgeRulesConfig = { families: ['ipv4', 'ipv6'], hooks: ['FORWARD', 'INPUT'] };
    const result = await applyEdgeRules(config, { netns: ns });
    expect(Object.keys(result.families).sort()).toEqual(['ipv4', 'ipv6']);
    const v6 = await mangle(ns, 'ip6tables-save');
    expect(chainRules(v6, 'PREROUTING')).toEqual(['-A PREROUTING -j L7MESH-PRE', '-A PREROUTING -i veth0 -j MARK --set-xmark 0x1/0x1']);
    expect(chainRules(v6, 'INPUT')).toEqual(['-A INPUT -j L7MESH-QUEUE']);
    expect(chainRules(v6, 'L7MESH-QUEUE')).toHaveLength(2);
    const listed = await listInstalled({ netns: ns, families: ['ipv4', 'ipv6'] });
    expect(listed.ipv4!.jumps).toHaveLength(4);
    expect(listed.ipv6!.jumps).toHaveLength(4);

    await applyEdgeRules(config, { netns: ns });
    expect(await mangle(ns, 'ip6tables-save')).toBe(v6);

    await removeEdgeRules(config, { netns: ns });
    expect(await mangle(ns, 'ip6tables-save')).toBe(v6before);
    expect(await mangle(ns)).not.toContain('L7MESH');
  });
});

describe('errors', () => {
  it('NF_APPLY / NF_REMOVE / NF_LIST for a namespace that does not exist', async () => {
    const netns = `l7nf-${process.pid}-missing`;
    const apply = await expectError(applyEdgeRules({}, { netns }), 'NF_APPLY');
    expect(apply.message).toContain(`Cannot open network namespace "${netns}"`);
    expect(apply.family).toBe('ipv4');
    expect(apply.command?.slice(0, 4)).toEqual(['ip', 'netns', 'exec', netns]);
    expect((await expectError(removeEdgeRules({}, { netns }), 'NF_REMOVE')).message).toContain('Cannot open network namespace');
    expect((await expectError(listInstalled({ netns }), 'NF_LIST')).message).toContain('Cannot open network namespace');
  });

  it('NF_INVALID_CONFIG for a bad namespace name or configuration, before running anything', async () => {
    expect((await expectError(applyEdgeRules({}, { netns: '../etc' }), 'NF_INVALID_CONFIG')).field).toBe('netns');
    expect((await expectError(applyEdgeRules({ queue: { num: 70000 } }, { netns: 'x' }), 'NF_INVALID_CONFIG')).field).toBe('queue.num');
  });
});

describe('tc HTB example', () => {
  const groups = [
    { name: 'interactive', mark: 0x100, rate: '30mbit' },
    { name: 'bulk', mark: 0x4200, rate: '10mbit', ceil: '50mbit' },
  ];

  it('is accepted by tc (fw filters with the l7 mask) and iptables (CLASSIFY variant)', async () => {
    const ns = await lab.ns();
    const peer = await lab.ns();
    await lab.link(ns, 'eth1', '198.18.62.1/24', peer, 'eth0', '198.18.62.2/24');
    // this test kernel has no fq_codel: leave HTB's default leaves
    const script = renderTcHtbExample({ dev: 'eth1', linkRate: '100mbit', groups, leafQdisc: false });
    for (const line of script.split('\n').filter((l) => l.startsWith('tc '))) {
      if (!line.includes(' fw ')) {
        await lab.exec(ns, line.split(' '));
        continue;
      }
      // tc parses `handle MARK/MASK fw` itself; a kernel without cls_fw
      // (CONFIG_NET_CLS_FW unset, like this test kernel) refuses it only then.
      const result = await lab.exec(ns, line.split(' '), { allowFail: true });
      if (result.code !== 0) expect(result.stderr).toContain('TC classifier not found');
    }
    const filters = (await lab.exec(ns, ['tc', 'filter', 'show', 'dev', 'eth1'])).stdout;
    if (filters !== '') {
      expect(filters).toMatch(/handle 0x100\/0xff00 classid 1:10/);
      expect(filters).toMatch(/handle 0x4200\/0xff00 classid 1:11/);
    }
    expect((await lab.exec(ns, ['tc', 'class', 'show', 'dev', 'eth1'])).stdout).toContain('class htb 1:ffff');

    const classify = renderTcHtbExample({ dev: 'eth1', linkRate: '100mbit', groups, leafQdisc: false, classifier: 'classify' });
    const rules = classify.split('\n').filter((l) => l.startsWith('iptables '));
    expect(rules).toEqual([
      'iptables -t mangle -A POSTROUTING -o eth1 -m mark --mark 0x100/0xff00 -j CLASSIFY --set-class 1:10',
      'iptables -t mangle -A POSTROUTING -o eth1 -m mark --mark 0x4200/0xff00 -j CLASSIFY --set-class 1:11',
    ]);
    for (const rule of rules) await lab.exec(ns, rule.split(' '));
  });
});

describe("conntrack's FTP helper in the raw table", () => {
  it('is installed after the operator\'s raw rules, follows the configuration, and is removed with the rest', async () => {
    const ns = await lab.ns();
    const notrack = '-A PREROUTING -s 198.18.9.9/32 -p tcp -m tcp --dport 21 -j CT --notrack';
    await lab.exec(ns, ['iptables', '-t', 'raw', ...notrack.split(' ')]);
    const config: EdgeRulesConfig = { ftpHelperPorts: [21] };

    const first = await applyEdgeRules(config, { netns: ns });
    expect(first.families.ipv4!.input.startsWith('*raw\n')).toBe(true);
    let save = await saved(ns, 'raw');
    expect(chainRules(save, 'PREROUTING')).toEqual([notrack, '-A PREROUTING -j L7MESH-RAW']);
    expect(chainRules(save, 'L7MESH-RAW')).toEqual(['-A L7MESH-RAW -p tcp -m tcp --dport 21 -m conntrack ! --ctstate UNTRACKED -j CT --helper ftp']);
    expect((await listInstalled({ netns: ns })).ipv4!.chains.map((c) => `${c.table} ${c.name}`).sort()).toEqual([
      'mangle L7MESH-POST',
      'mangle L7MESH-PRE',
      'mangle L7MESH-QUEUE',
      'raw L7MESH-RAW',
    ]);

    const again = await applyEdgeRules(config, { netns: ns });
    expect(again.families.ipv4!.replacedJumps).toBe(4);
    expect(await saved(ns, 'raw')).toBe(save);

    const without = await applyEdgeRules({}, { netns: ns });
    expect(without.families.ipv4!.removedChains).toEqual(['L7MESH-RAW']);
    save = await saved(ns, 'raw');
    expect(save).not.toContain('L7MESH');
    expect(chainRules(save, 'PREROUTING')).toEqual([notrack]);

    await applyEdgeRules(config, { netns: ns });
    const removed = await removeEdgeRules(config, { netns: ns });
    expect([...removed.families.ipv4!.removedChains].sort()).toEqual(['L7MESH-POST', 'L7MESH-PRE', 'L7MESH-QUEUE', 'L7MESH-RAW']);
    save = await saved(ns, 'raw');
    expect(save).not.toContain('L7MESH');
    expect(chainRules(save, 'PREROUTING')).toEqual([notrack]);
  });
});
