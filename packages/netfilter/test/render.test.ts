import { describe, expect, it } from 'vitest';
import {
  checkL7Mark,
  describeEdgeRules,
  NetfilterError,
  parseIptablesSave,
  renderEdgeRules,
  renderTcHtbExample,
  resolveEdgeRules,
  type EdgeRulesConfig,
} from '@l7mesh/netfilter';
import { renderRemovalInput, renderRestoreInput } from '../src/restoreInput.js';
import { buildRuleModel } from '../src/ruleModel.js';

/** The NF_INVALID_CONFIG error `fn` throws (fails the test if it throws something else). */
function configError(fn: () => unknown): NetfilterError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NetfilterError);
    expect((e as NetfilterError).code).toBe('NF_INVALID_CONFIG');
    return e as NetfilterError;
  }
  throw new Error('expected NF_INVALID_CONFIG, nothing was thrown');
}

describe('renderEdgeRules', () => {
  it('renders the default configuration exactly', () => {
    const rendered = renderEdgeRules();
    expect(rendered.ipv6).toBeUndefined();
    expect(rendered.ipv4).toBe(
      [
        '*mangle',
        ':L7MESH-PRE - [0:0]',
        ':L7MESH-QUEUE - [0:0]',
        ':L7MESH-POST - [0:0]',
        '-F L7MESH-PRE',
        '-F L7MESH-QUEUE',
        '-F L7MESH-POST',
        '-A L7MESH-PRE -j CONNMARK --restore-mark --nfmask 0xff00 --ctmask 0xff00',
        '-A L7MESH-QUEUE -p tcp -m connmark --mark 0x0/0xff00 -m connbytes --connbytes 0:10 --connbytes-mode packets --connbytes-dir both -j NFQUEUE --queue-num 0 --queue-bypass',
        '-A L7MESH-QUEUE -p udp -m connmark --mark 0x0/0xff00 -m connbytes --connbytes 0:10 --connbytes-mode packets --connbytes-dir both -j NFQUEUE --queue-num 0 --queue-bypass',
        '-A L7MESH-POST -j CONNMARK --save-mark --nfmask 0xff00 --ctmask 0xff00',
        '-I PREROUTING -j L7MESH-PRE',
        '-A FORWARD -j L7MESH-QUEUE',
        '-I POSTROUTING -j L7MESH-POST',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('renders queue-balance, INPUT/OUTPUT hooks, a custom mask and budget, both families', () => {
    const config: EdgeRulesConfig = {
      mask: '0x00ff0000',
      queue: { balance: [2, 5], cpuFanout: true },
      packets: 6,
      // written out of order and without FORWARD: the output is canonical
      hooks: ['OUTPUT', 'INPUT'],
      families: ['ipv6', 'ipv4'],
    };
    const rendered = renderEdgeRules(config);
    expect(rendered.ipv6).toBe(rendered.ipv4);
    const queue = (p: string) =>
      `-A L7MESH-QUEUE -p ${p} -m connmark --mark 0x0/0xff0000 -m connbytes --connbytes 0:6 --connbytes-mode packets --connbytes-dir both -j NFQUEUE --queue-balance 2:5 --queue-bypass --queue-cpu-fanout`;
    expect(rendered.ipv4!.split('\n').slice(7)).toEqual([
      '-A L7MESH-PRE -j CONNMARK --restore-mark --nfmask 0xff0000 --ctmask 0xff0000',
      queue('tcp'),
      queue('udp'),
      '-A L7MESH-POST -j CONNMARK --save-mark --nfmask 0xff0000 --ctmask 0xff0000',
      '-I PREROUTING -j L7MESH-PRE',
      // locally generated packets do not pass PREROUTING: restore in OUTPUT too
      '-I OUTPUT -j L7MESH-PRE',
      '-A INPUT -j L7MESH-QUEUE',
      '-A OUTPUT -j L7MESH-QUEUE',
      '-I POSTROUTING -j L7MESH-POST',
      'COMMIT',
      '',
    ]);
  });

  it('renders queue-balance without cpu fanout and all three hooks', () => {
    const text = renderEdgeRules({ queue: { balance: [0, 3] }, hooks: ['FORWARD', 'INPUT', 'OUTPUT'] }).ipv4!;
    expect(text).toContain('-j NFQUEUE --queue-balance 0:3 --queue-bypass\n');
    expect(text).not.toContain('cpu-fanout');
    expect(text.split('\n').filter((l) => l.endsWith('-j L7MESH-QUEUE'))).toEqual([
      '-A FORWARD -j L7MESH-QUEUE',
      '-A INPUT -j L7MESH-QUEUE',
      '-A OUTPUT -j L7MESH-QUEUE',
    ]);
  });

  it('renders conntrack\'s FTP helper in its own raw chain, before the mangle section, when FTP ports are given', () => {
    const text = renderEdgeRules({ ftpHelperPorts: [2121, 21], hooks: ['FORWARD', 'OUTPUT'] }).ipv4!;
    const lines = text.split('\n');
    expect(lines.slice(0, lines.indexOf('*mangle'))).toEqual([
      '*raw',
      ':L7MESH-RAW - [0:0]',
      '-F L7MESH-RAW',
      '-A L7MESH-RAW -p tcp -m tcp --dport 21 -m conntrack ! --ctstate UNTRACKED -j CT --helper ftp',
      '-A L7MESH-RAW -p tcp -m tcp --dport 2121 -m conntrack ! --ctstate UNTRACKED -j CT --helper ftp',
      '-A PREROUTING -j L7MESH-RAW',
      '-A OUTPUT -j L7MESH-RAW',
      'COMMIT',
    ]);
    expect(renderEdgeRules({}).ipv4).not.toContain('*raw');
    expect(describeEdgeRules({ ftpHelperPorts: [21] })).toContain("raw L7MESH-RAW, jumped to from PREROUTING (last rule):\n    conntrack's FTP helper on TCP port 21");
  });

  it('describes the rules for humans', () => {
    const text = describeEdgeRules({ hooks: ['FORWARD', 'INPUT'], queue: { num: 3 } });
    expect(text).toContain('l7 mark mask 0x0000ff00');
    expect(text).toContain('mangle L7MESH-QUEUE, jumped to from FORWARD (last rule), INPUT (last rule):');
    expect(text).toContain('go to NFQUEUE 3');
    expect(text).toContain('--queue-bypass');
    expect(text).toContain('nf_conntrack_acct=1');
    expect(text).toContain('packets queued in INPUT never reach POSTROUTING');
  });
});

describe('configuration checks', () => {
  const cases: [string, EdgeRulesConfig, string][] = [
    ['mask', { mask: 0 }, 'must not be 0'],
    ['mask', { mask: 'ff00' }, 'is not a mark'],
    ['mask', { mask: 0x1_0000_0000 }, 'not a 32-bit'],
    ['queue.num', { queue: { num: 65536 } }, '65536 is not a queue number'],
    ['queue.num', { queue: { num: -1 } }, 'is not a queue number'],
    ['queue.balance', { queue: { balance: [3, 3] } }, 'first < last'],
    ['queue.balance[1]', { queue: { balance: [0, 70000] } }, '70000'],
    ['queue.cpuFanout', { queue: { num: 1, cpuFanout: true } as never }, 'only applies to queue.balance'],
    ['packets', { packets: 0 }, 'packet budget'],
    ['packets', { packets: 2.5 }, 'packet budget'],
    ['hooks', { hooks: [] }, 'non-empty'],
    ['hooks[0]', { hooks: ['PREROUTING' as never] }, '"PREROUTING" is not one of FORWARD, INPUT, OUTPUT'],
    ['hooks[1]', { hooks: ['INPUT', 'INPUT'] }, 'listed twice'],
    ['families[0]', { families: ['ipx' as never] }, 'ipx'],
    ['ftpHelperPorts[1]', { ftpHelperPorts: [21, 0] }, '0 is not a TCP port'],
    ['ftpHelperPorts[1]', { ftpHelperPorts: [21, 21] }, 'listed twice'],
    ['ftpHelperPorts', { ftpHelperPorts: 21 as never }, 'must be a list of TCP ports'],
  ];
  for (const [field, config, words] of cases) {
    it(`${field}: ${JSON.stringify(config)}`, () => {
      const err = configError(() => resolveEdgeRules(config));
      expect(err.field).toBe(field);
      expect(err.message.startsWith(`${field}: `)).toBe(true);
      expect(err.message).toContain(words);
    });
  }

  it('renderEdgeRules checks too', () => {
    expect(configError(() => renderEdgeRules({ mask: 0 })).field).toBe('mask');
  });

  it('verdict marks must lie within the mask and be non-zero under it', () => {
    expect(checkL7Mark('0x4200', 0xff00, 'marks.bittorrent')).toBe(0x4200);
    const outside = configError(() => checkL7Mark(0x14200, 0xff00, 'marks.bittorrent'));
    expect(outside.field).toBe('marks.bittorrent');
    expect(outside.message).toContain('0x14200');
    expect(outside.message).toContain('0x0000ff00');
    expect(configError(() => checkL7Mark(0, 0xff00, 'marks.http')).message).toContain('not classified yet');
  });
});

describe('parseIptablesSave', () => {
  it('finds our chains and every jump into them, and nothing else', () => {
    const save = [
      '# Generated by iptables-save v1.8.9 (nf_tables)',
      '*mangle',
      ':PREROUTING ACCEPT [0:0]',
      ':FORWARD ACCEPT [0:0]',
      ':POSTROUTING ACCEPT [0:0]',
      ':L7MESH-OLD - [0:0]',
      ':L7MESH-PRE - [0:0]',
      ':OPERATOR - [0:0]',
      '[4:240] -A PREROUTING -j L7MESH-PRE',
      '[1:60] -A PREROUTING -i veth0 -m comment --comment "jump -j L7MESH-PRE" -j MARK --set-xmark 0x1/0x1',
      '-A FORWARD -i eth0 -g L7MESH-OLD',
      '-A OPERATOR -j L7MESH-PRE',
      '-A L7MESH-PRE -j CONNMARK --restore-mark --nfmask 0xff00 --ctmask 0xff00',
      'COMMIT',
      '*filter',
      ':L7MESH-FILTER - [0:0]',
      '-A INPUT -j L7MESH-FILTER',
      'COMMIT',
      '*raw',
      ':PREROUTING ACCEPT [0:0]',
      ':L7MESH-RAW - [0:0]',
      '-A PREROUTING -j L7MESH-RAW',
      '-A L7MESH-RAW -p tcp -m tcp --dport 21 -m conntrack ! --ctstate UNTRACKED -j CT --helper ftp',
      'COMMIT',
    ].join('\n');
    const installed = parseIptablesSave(save, 'ipv4');
    expect(installed.installed).toBe(true);
    expect(installed.chains).toEqual([
      { table: 'mangle', name: 'L7MESH-OLD', rules: [] },
      { table: 'mangle', name: 'L7MESH-PRE', rules: ['-j CONNMARK --restore-mark --nfmask 0xff00 --ctmask 0xff00'] },
      { table: 'raw', name: 'L7MESH-RAW', rules: ['-p tcp -m tcp --dport 21 -m conntrack ! --ctstate UNTRACKED -j CT --helper ftp'] },
    ]);
    expect(installed.jumps).toEqual([
      { table: 'mangle', chain: 'PREROUTING', target: 'L7MESH-PRE', spec: '-j L7MESH-PRE' },
      { table: 'mangle', chain: 'FORWARD', target: 'L7MESH-OLD', spec: '-i eth0 -g L7MESH-OLD' },
      { table: 'mangle', chain: 'OPERATOR', target: 'L7MESH-PRE', spec: '-j L7MESH-PRE' },
      { table: 'raw', chain: 'PREROUTING', target: 'L7MESH-RAW', spec: '-j L7MESH-RAW' },
    ]);
    expect(parseIptablesSave('*mangle\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n', 'ipv6')).toEqual({
      family: 'ipv6',
      chains: [],
      jumps: [],
      installed: false,
    });
  });
});

describe('transactions against an installed table', () => {
  const installed = parseIptablesSave(
    [
      '*mangle',
      ':PREROUTING ACCEPT [0:0]',
      ':L7MESH-OLD - [0:0]',
      ':L7MESH-PRE - [0:0]',
      '-A PREROUTING -j L7MESH-PRE',
      '-A PREROUTING -j L7MESH-PRE',
      '-A FORWARD -p udp -j L7MESH-OLD',
      '-A L7MESH-OLD -j L7MESH-PRE',
      'COMMIT',
    ].join('\n'),
    'ipv4',
  );

  it('apply deletes every old jump and the stale chain in the same transaction', () => {
    const text = renderRestoreInput(buildRuleModel(resolveEdgeRules({ packets: 5 })), installed);
    expect(text.split('\n').slice(0, 14)).toEqual([
      '*mangle',
      ':L7MESH-PRE - [0:0]',
      ':L7MESH-QUEUE - [0:0]',
      ':L7MESH-POST - [0:0]',
      '-D PREROUTING -j L7MESH-PRE',
      '-D PREROUTING -j L7MESH-PRE',
      '-D FORWARD -p udp -j L7MESH-OLD',
      '-F L7MESH-PRE',
      '-F L7MESH-QUEUE',
      '-F L7MESH-POST',
      '-F L7MESH-OLD',
      '-X L7MESH-OLD',
      '-A L7MESH-PRE -j CONNMARK --restore-mark --nfmask 0xff00 --ctmask 0xff00',
      '-A L7MESH-QUEUE -p tcp -m connmark --mark 0x0/0xff00 -m connbytes --connbytes 0:5 --connbytes-mode packets --connbytes-dir both -j NFQUEUE --queue-num 0 --queue-bypass',
    ]);
  });

  it('remove deletes the jumps, then flushes, then deletes the chains', () => {
    expect(renderRemovalInput(installed)).toBe(
      [
        '*mangle',
        '-D PREROUTING -j L7MESH-PRE',
        '-D PREROUTING -j L7MESH-PRE',
        '-D FORWARD -p udp -j L7MESH-OLD',
        '-F L7MESH-OLD',
        '-F L7MESH-PRE',
        '-X L7MESH-OLD',
        '-X L7MESH-PRE',
        'COMMIT',
        '',
      ].join('\n'),
    );
    expect(renderRemovalInput(parseIptablesSave('*mangle\nCOMMIT\n', 'ipv4'))).toBeUndefined();
  });
});

describe('renderTcHtbExample', () => {
  it('renders HTB classes per group with masked fw filters', () => {
    const script = renderTcHtbExample({
      dev: 'eth1',
      linkRate: '100mbit',
      defaultRate: '20mbit',
      groups: [
        { name: 'interactive', mark: 0x100, rate: '30mbit' },
        { name: 'bulk', mark: '0x4200', rate: '10mbit', ceil: '50mbit' },
      ],
    });
    const commands = script.split('\n').filter((l) => l.startsWith('tc '));
    expect(commands).toEqual([
      'tc qdisc replace dev eth1 root handle 1: htb default ffff',
      'tc class add dev eth1 parent 1: classid 1:1 htb rate 100mbit ceil 100mbit',
      'tc class add dev eth1 parent 1:1 classid 1:10 htb rate 30mbit ceil 100mbit',
      'tc qdisc add dev eth1 parent 1:10 fq_codel',
      'tc class add dev eth1 parent 1:1 classid 1:11 htb rate 10mbit ceil 50mbit',
      'tc qdisc add dev eth1 parent 1:11 fq_codel',
      'tc class add dev eth1 parent 1:1 classid 1:ffff htb rate 20mbit ceil 100mbit',
      'tc qdisc add dev eth1 parent 1:ffff fq_codel',
      'tc filter add dev eth1 parent 1: protocol all prio 1 handle 0x100/0xff00 fw classid 1:10',
      'tc filter add dev eth1 parent 1: protocol all prio 1 handle 0x4200/0xff00 fw classid 1:11',
    ]);
  });

  it('refuses marks outside the mask, naming the group and the value', () => {
    const err = configError(() =>
      renderTcHtbExample({ dev: 'eth1', linkRate: '1gbit', groups: [{ name: 'a', mark: 0x100, rate: '1mbit' }, { name: 'b', mark: 0x10100, rate: '1mbit' }] }),
    );
    expect(err.field).toBe('groups[1].mark');
    expect(err.message).toContain('0x10100');
    expect(configError(() => renderTcHtbExample({ dev: 'eth1', linkRate: 'fast', groups: [] })).field).toBe('linkRate');
  });
});
