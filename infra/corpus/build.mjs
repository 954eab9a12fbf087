#!/usr/bin/env node
// infra/corpus/build.mjs: builds the development corpus for `l7mesh patterns score`
// from git checkouts of public repositories that ship real captures with
// per-flow labels made by other tools:
//
//   --zeek DIR             zeek/zeek: testing/btest/Traces, labelled by the
//                          btest baselines' conn.log `service` column and by the
//                          protocol logs (http.log, ssl.log, dns.log, ...)
//   --suricata-verify DIR  OISF/suricata-verify: each test's pcap, labelled by the
//                          test.yaml checks that name a flow's 5-tuple together
//                          with its app_proto or an app-layer event type
//
// DIR is a git directory (a bare mirror or a checkout's .git, or a checkout);
// everything is read from its HEAD with git, nothing is checked out. Writes
//
//   OUT/captures/<source>/...   the captures that have at least one labelled flow
//   OUT/truth.tsv               capture, proto, src, sport, dst, dport, label, origin
//   OUT/sources.tsv             source, repository HEAD commit, captures, rows
//
// OUT must be outside the repository (or ignored by git): the captures are
// other projects' files and are not committed here. Then:
//
//   l7mesh patterns score --captures OUT/captures --truth OUT/truth.tsv
//
// The labels are never edited to fit: what the other tool logged is the truth.
// nDPI's test captures are the project's held-out check and are never read here.

import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import YAML from 'yaml';

const USAGE = `usage: node infra/corpus/build.mjs --out DIR [--zeek GITDIR] [--suricata-verify GITDIR] [--force]`;

// ---------------------------------------------------------------- git access

function git(repo, args, input) {
  const r = spawnSync('git', ['--git-dir', repo, ...args], { input, maxBuffer: 4 << 30 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} in ${repo}: ${r.stderr.toString().trim()}`);
  return r.stdout;
}

/** The git directory of a checkout or a bare repository. */
function gitDir(path) {
  const r = spawnSync('git', ['-C', path, 'rev-parse', '--git-dir'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${path} is not a git repository: ${r.stderr.trim()}`);
  return resolve(path, r.stdout.trim());
}

/** Every blob under `prefix` at HEAD: path -> { sha, size }. */
function listTree(repo, prefix) {
  const out = new Map();
  for (const line of git(repo, ['ls-tree', '-r', '-l', '-z', 'HEAD', '--', prefix]).toString('utf8').split('\0')) {
    if (!line) continue;
    const tab = line.indexOf('\t');
    const [, type, sha, size] = line.slice(0, tab).split(/\s+/);
    if (type !== 'blob') continue;
    out.set(line.slice(tab + 1), { sha, size: Number(size) });
  }
  return out;
}

/** Contents of many blobs in one `git cat-file --batch`: sha -> Buffer (missing objects left out). */
function readBlobs(repo, shas) {
  const unique = [...new Set(shas)];
  const result = new Map();
  if (unique.length === 0) return result;
  const out = git(repo, ['cat-file', '--batch'], `${unique.join('\n')}\n`);
  let at = 0;
  for (const sha of unique) {
    const nl = out.indexOf(10, at);
    const header = out.subarray(at, nl).toString('utf8');
    at = nl + 1;
    if (header.endsWith(' missing')) continue;
    const size = Number(header.split(' ')[2]);
    result.set(sha, out.subarray(at, at + size));
    at += size + 1;
  }
  return result;
}

const LFS_POINTER = Buffer.from('version https://git-lfs');
const PCAP_MAGICS = [0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0x0a0d0d0a];

/** A capture file as stored (not an LFS pointer, not compressed). */
function isCapture(bytes) {
  if (!bytes || bytes.length < 24 || bytes.subarray(0, LFS_POINTER.length).equals(LFS_POINTER)) return false;
  return PCAP_MAGICS.includes(bytes.readUInt32BE(0));
}

// ---------------------------------------------------------------- truth rows

/**
 * Labels per flow of one capture, merged from every place that names the
 * flow: key = capture + undirected endpoints (+ transport when known).
 */
class Truth {
  rows = new Map();
  conflicts = 0;

  /** With `onlyExisting`, the labels are added to a flow other evidence labelled already, never make one. */
  add(capture, proto, src, sport, dst, dport, labels, origin, onlyExisting = false) {
    if (labels.length === 0) return;
    const a = `${src}#${sport}`;
    const b = `${dst}#${dport}`;
    const key = `${capture} ${a < b ? `${a} ${b}` : `${b} ${a}`}`;
    let row = this.rows.get(key);
    if (!row && onlyExisting) return;
    if (!row) {
      row = { capture, proto, src, sport, dst, dport, labels: [], origins: [] };
      this.rows.set(key, row);
    }
    if (!row.proto && proto) row.proto = proto;
    if (row.labels.length > 0 && !labels.some((l) => row.labels.includes(l))) this.conflicts++;
    for (const l of labels) if (!row.labels.includes(l)) row.labels.push(l);
    if (!row.origins.includes(origin)) row.origins.push(origin);
  }
}

/** Reads a Zeek log (full, or zeek-cut -m output): its rows as column -> value. */
function readZeekLog(text) {
  let header;
  const rows = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#fields\t')) {
      header = line.split('\t').slice(1);
      continue;
    }
    if (line.startsWith('#')) continue;
    if (!header) {
      header = line.split('\t');
      continue;
    }
    const cells = line.split('\t');
    rows.push(Object.fromEntries(header.map((h, i) => [h, cells[i] ?? ''])));
  }
  return rows;
}

const unset = (v) => v === undefined || v === '' || v === '-' || v === '(empty)';

// ---------------------------------------------------------------- Zeek

/**
 * Protocol logs whose every row is a connection Zeek's analyzer parsed as
 * that protocol (not dpd.log/analyzer.log: those are violations).
 */
const ZEEK_PROTOCOL_LOGS = {
  'dns.log': 'dns',
  'http.log': 'http',
  'ssl.log': 'ssl',
  'ssh.log': 'ssh',
  'ftp.log': 'ftp',
  'smtp.log': 'smtp',
  'irc.log': 'irc',
  'ntp.log': 'ntp',
  'snmp.log': 'snmp',
  'sip.log': 'sip',
  'radius.log': 'radius',
  'rdp.log': 'rdp',
  'mysql.log': 'mysql',
  'socks.log': 'socks',
  'syslog.log': 'syslog',
  'kerberos.log': 'krb',
  'smb_files.log': 'smb',
  'smb_mapping.log': 'smb',
  'dce_rpc.log': 'dce_rpc',
  'ntlm.log': 'ntlm',
  'modbus.log': 'modbus',
  'dnp3.log': 'dnp3',
  'rfb.log': 'rfb',
  'ldap.log': 'ldap',
  'ldap_search.log': 'ldap',
  'quic.log': 'quic',
  'websocket.log': 'websocket',
  'redis.log': 'redis',
  'postgresql.log': 'postgresql',
  'mqtt_connect.log': 'mqtt',
  'mqtt_publish.log': 'mqtt',
  'mqtt_subscribe.log': 'mqtt',
  'pop3.log': 'pop3',
  'imap.log': 'imap',
  'tftp.log': 'tftp',
  'gnutella.log': 'gnutella',
};
/**
 * Logs of protocols Zeek also finds inside other protocols: Kerberos, NTLM
 * and DCE-RPC inside SMB, LDAP or HTTP authentication. Such a row says the
 * connection carried the protocol somewhere, not what it began with, so it
 * only adds to a flow that conn.log's service or another log labelled
 * (conn.log's service lists every analyzer that confirmed, the outer one
 * included), unless the row itself says the connection is the protocol's
 * own: see zeekLabels.
 */
const ZEEK_CARRIED_LOGS = new Set(['kerberos.log', 'ntlm.log', 'dce_rpc.log']);
const ZEEK_CONN_LOGS = new Set(['conn.log', 'conn.log.cut', 'conn.cut']);
const ZEEK_TEST_FILE = /\.(zeek|test|bro|sh|spicy|evt)$/;

/** The row's labels, and whether they may only add to a flow labelled otherwise. */
function zeekLabels(file, row) {
  if (ZEEK_CONN_LOGS.has(file)) return { labels: unset(row.service) ? [] : row.service.split(',').filter((s) => !unset(s)), carried: false };
  const label = ZEEK_PROTOCOL_LOGS[file];
  // ssl.log also logs DTLS; its version column says which.
  if (label === 'ssl' && /^DTLS/.test(row.version ?? '')) return { labels: ['dtls'], carried: false };
  // A KDC exchange (AS, TGS, or the KDC's error) is a Kerberos connection; an AP exchange rides in another protocol.
  if (file === 'kerberos.log') return { labels: [label], carried: row.request_type === 'AP' };
  // DCE-RPC straight over TCP names its port where a named pipe (inside SMB) would be.
  if (file === 'dce_rpc.log') return { labels: [label], carried: !/^\d+$/.test(row.named_pipe ?? '') };
  return { labels: [label], carried: ZEEK_CARRIED_LOGS.has(file) };
}

function buildZeek(repo, truth, captures) {
  const base = 'testing/btest';
  const tree = listTree(repo, base);
  const traces = new Map();
  const tests = new Map();
  const baselines = new Map(); // baseline dir -> [{file, sha}]
  for (const [path, blob] of tree) {
    const rel = path.slice(base.length + 1);
    if (rel.startsWith('Traces/')) traces.set(rel.slice('Traces/'.length), blob);
    else if (rel.startsWith('Baseline/')) {
      const [, dir, file, ...rest] = rel.split('/');
      if (rest.length > 0 || !(ZEEK_CONN_LOGS.has(file) || file in ZEEK_PROTOCOL_LOGS)) continue;
      if (!baselines.has(dir)) baselines.set(dir, []);
      baselines.get(dir).push({ file, sha: blob.sha });
    } else if (ZEEK_TEST_FILE.test(rel)) {
      tests.set(rel.replace(ZEEK_TEST_FILE, '').split('/').join('.'), blob.sha);
    }
  }
  // Baseline dir -> its test (btest names sub-tests of one file name-2, name-3, ...).
  const testOf = (dir) => tests.get(dir) ?? tests.get(dir.replace(/-\d+$/, ''));
  const dirs = [...baselines.keys()].filter((d) => testOf(d) !== undefined).sort();
  const testText = readBlobs(
    repo,
    dirs.map((d) => testOf(d)),
  );
  const skipped = { noTest: baselines.size - dirs.length, notOneTrace: 0, traceMissing: 0 };
  const used = new Map(); // trace -> baseline dirs
  for (const dir of dirs) {
    const text = testText.get(testOf(dir))?.toString('utf8') ?? '';
    const named = new Set([...text.matchAll(/\$TRACES\/([^\s"'`;|)]+)/g)].map((m) => m[1]).filter((t) => traces.has(t)));
    if (named.size !== 1) {
      skipped.notOneTrace++;
      continue;
    }
    const trace = [...named][0];
    if (!used.has(trace)) used.set(trace, []);
    used.get(trace).push(dir);
  }
  const logBlobs = readBlobs(
    repo,
    [...used.values()].flat().flatMap((d) => baselines.get(d).map((b) => b.sha)),
  );
  const traceBlobs = readBlobs(
    repo,
    [...used.keys()].map((t) => traces.get(t).sha),
  );
  for (const [trace, dirsOfTrace] of [...used].sort()) {
    const bytes = traceBlobs.get(traces.get(trace).sha);
    if (!isCapture(bytes)) {
      skipped.traceMissing++;
      continue;
    }
    const capture = `zeek/${trace}`;
    const before = truth.rows.size;
    const files = dirsOfTrace.flatMap((dir) => baselines.get(dir).map((b) => ({ dir, ...b })));
    // Rows that label a connection first, then those that only add to one.
    for (const pass of [false, true]) {
      for (const { dir, file, sha } of files) {
        const text = logBlobs.get(sha)?.toString('utf8');
        if (!text) continue;
        for (const row of readZeekLog(text)) {
          const ids = ['id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p'];
          if (ids.some((k) => unset(row[k]))) continue;
          const proto = unset(row.proto) ? undefined : row.proto;
          if (proto && proto !== 'tcp' && proto !== 'udp') continue;
          const { labels, carried } = zeekLabels(file, row);
          if (carried !== pass) continue;
          truth.add(capture, proto, row['id.orig_h'], row['id.orig_p'], row['id.resp_h'], row['id.resp_p'], labels, `zeek:${dir}/${file}`, carried);
        }
      }
    }
    if (truth.rows.size > before) captures.set(capture, bytes);
  }
  return { traces: used.size, skipped };
}

// ---------------------------------------------------------------- suricata-verify

/** Suricata event types that are app-layer transactions of one protocol. */
const SURICATA_APP_EVENTS = new Set([
  'http', 'http2', 'dns', 'tls', 'ssh', 'smtp', 'ftp', 'ftp_data', 'smb', 'nfs', 'tftp', 'dhcp', 'krb5', 'ike', 'ikev2',
  'snmp', 'sip', 'rdp', 'rfb', 'mqtt', 'pgsql', 'quic', 'ldap', 'bittorrent_dht', 'dcerpc', 'modbus', 'dnp3', 'enip',
  'telnet', 'websocket', 'pop3', 'imap', 'llmnr', 'mdns', 'doh2', 'ntp', 'sdp', 'mysql', 'redis', 'socks',
]);
const SURICATA_NOT_A_PROTOCOL = new Set(['failed', 'unknown', 'template', 'template-rust', '']);

function suricataLabel(match) {
  for (const key of ['app_proto', 'app_proto_ts', 'app_proto_tc']) {
    const v = match[key];
    if (typeof v === 'string' && !SURICATA_NOT_A_PROTOCOL.has(v)) return v;
  }
  const ev = match.event_type;
  if (typeof ev === 'string' && SURICATA_APP_EVENTS.has(ev)) return ev;
  return undefined;
}

function buildSuricataVerify(repo, truth, captures) {
  const tree = listTree(repo, 'tests');
  const dirs = new Map(); // test dir -> { yaml, pcaps: Map<name, blob> }
  for (const [path, blob] of tree) {
    const dir = posix.dirname(path);
    const name = posix.basename(path);
    if (!dirs.has(dir)) dirs.set(dir, { pcaps: new Map() });
    const d = dirs.get(dir);
    if (name === 'test.yaml') d.yaml = blob.sha;
    else if (/\.(pcap|pcapng)$/.test(name)) d.pcaps.set(name, blob);
  }
  const yamls = readBlobs(
    repo,
    [...dirs.values()].filter((d) => d.yaml).map((d) => d.yaml),
  );
  const skipped = { badYaml: 0, noPcap: 0, noLabel: 0, pcapMissing: 0 };
  const wanted = [];
  for (const [dir, d] of [...dirs].sort()) {
    if (!d.yaml) continue;
    let test;
    try {
      test = YAML.parse(yamls.get(d.yaml)?.toString('utf8') ?? '');
    } catch {
      skipped.badYaml++;
      continue;
    }
    if (!test || typeof test !== 'object') continue;
    // test.yaml's pcap is relative to the test (often another test's pcap); else the one pcap beside it.
    let pcapPath;
    if (typeof test.pcap === 'string') pcapPath = posix.normalize(posix.join(dir, test.pcap));
    else if (test.pcap === false) continue;
    else if (d.pcaps.size === 1) pcapPath = posix.join(dir, [...d.pcaps.keys()][0]);
    const pcap = pcapPath === undefined ? undefined : tree.get(pcapPath);
    if (!pcap) {
      skipped.noPcap++;
      continue;
    }
    const rows = [];
    for (const check of Array.isArray(test.checks) ? test.checks : []) {
      const f = check?.filter;
      const m = f?.match;
      if (!m || typeof m !== 'object') continue;
      if (f.count === 0 || (typeof f.lt === 'number' && f.lt <= 1)) continue;
      const label = suricataLabel(m);
      if (!label || m.src_ip === undefined || m.dest_ip === undefined || m.src_port === undefined || m.dest_port === undefined) continue;
      const proto = typeof m.proto === 'string' ? m.proto.toLowerCase() : undefined;
      if (proto && proto !== 'tcp' && proto !== 'udp') continue;
      rows.push([proto, String(m.src_ip), String(m.src_port), String(m.dest_ip), String(m.dest_port), [label]]);
    }
    if (rows.length === 0) {
      skipped.noLabel++;
      continue;
    }
    wanted.push({ dir, pcapPath, pcap, rows });
  }
  const blobs = readBlobs(
    repo,
    wanted.map((w) => w.pcap.sha),
  );
  let used = 0;
  for (const w of wanted) {
    const bytes = blobs.get(w.pcap.sha);
    if (!isCapture(bytes)) {
      skipped.pcapMissing++;
      continue;
    }
    const capture = `suricata-verify/${w.pcapPath.slice('tests/'.length)}`;
    for (const r of w.rows) truth.add(capture, ...r, `suricata-verify:${w.dir}/test.yaml`);
    if (!captures.has(capture)) used++;
    captures.set(capture, bytes);
  }
  return { traces: used, skipped };
}

// ---------------------------------------------------------------- main

function main() {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, zeek: { type: 'string' }, 'suricata-verify': { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help || !values.out || (!values.zeek && !values['suricata-verify'])) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(values.help ? 0 : 2);
  }
  const out = resolve(values.out);
  const inRepo = spawnSync('git', ['-C', dirname(out), 'check-ignore', '-q', out]);
  const repoTop = spawnSync('git', ['-C', dirname(out), 'rev-parse', '--show-toplevel'], { encoding: 'utf8' });
  if (repoTop.status === 0 && inRepo.status !== 0 && !values.force) {
    process.stderr.write(`${out} is inside the git work tree ${repoTop.stdout.trim()} and not ignored: the corpus is not to be committed (use a directory outside, or --force)\n`);
    process.exit(2);
  }
  rmSync(join(out, 'captures'), { recursive: true, force: true });
  mkdirSync(out, { recursive: true });

  const truth = new Truth();
  const captures = new Map();
  const sources = [];
  for (const [name, build] of [
    ['zeek', buildZeek],
    ['suricata-verify', buildSuricataVerify],
  ]) {
    if (!values[name]) continue;
    const repo = gitDir(values[name]);
    const head = git(repo, ['rev-parse', 'HEAD']).toString().trim();
    const rowsBefore = truth.rows.size;
    const capturesBefore = captures.size;
    const r = build(repo, truth, captures);
    sources.push([name, head, captures.size - capturesBefore, truth.rows.size - rowsBefore]);
    process.stderr.write(`${name} ${head}: ${captures.size - capturesBefore} captures, ${truth.rows.size - rowsBefore} labelled flows; skipped ${JSON.stringify(r.skipped)}\n`);
  }
  for (const [name, bytes] of captures) {
    const file = join(out, 'captures', name);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, bytes);
  }
  const lines = ['# l7mesh development corpus: built by infra/corpus/build.mjs; labels as the other tools logged them', 'capture\tproto\tsrc\tsport\tdst\tdport\tlabel\torigin'];
  for (const r of truth.rows.values()) lines.push([r.capture, r.proto ?? '-', r.src, r.sport, r.dst, r.dport, r.labels.join(','), r.origins.join(' ')].join('\t'));
  writeFileSync(join(out, 'truth.tsv'), `${lines.join('\n')}\n`);
  writeFileSync(join(out, 'sources.tsv'), `source\tcommit\tcaptures\tlabelled_flows\n${sources.map((s) => s.join('\t')).join('\n')}\n`);
  process.stderr.write(`wrote ${captures.size} captures and ${truth.rows.size} labelled flows to ${out} (${truth.conflicts} flows with disjoint labels from different origins, merged)\n`);
}

main();
