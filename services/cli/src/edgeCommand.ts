import { request } from 'node:http';
import Table from 'cli-table3';
import { type Command, InvalidArgumentError } from 'commander';
import {
  EdgeConfigError,
  loadEdgeConfig,
  loadEdgePatterns,
  LOOPBACK,
  MarkPolicy,
  renderRulesReport,
  replayCaptures,
  startEdge,
  type EdgeConfig,
  type EdgeStats,
  type FlowView,
  type ReplayRecord,
  type RunningEdge,
} from '@l7mesh/edge';
import { formatFlowLine } from './flowListing.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535');
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number above 0');
  return n;
}

/** Loads the configuration, or prints every problem (file: key: reason) and returns undefined. */
function configOrReport(file: string): EdgeConfig | undefined {
  try {
    return loadEdgeConfig(file);
  } catch (err) {
    if (!(err instanceof EdgeConfigError)) throw err;
    for (const p of err.problems) process.stderr.write(`l7mesh: ${err.file}: ${p}\n`);
    return undefined;
  }
}

// ------------------------------------------------------------------ run

interface RunOptions {
  config: string;
  replay?: string[];
  rules: boolean;
  keepRules?: boolean;
  metricsPort?: number;
  json?: boolean;
  speed?: number;
}

function replayLine(r: ReplayRecord): string {
  const mark = r.mark ? `  mark ${r.mark}${r.mark_state && r.mark_state !== 'packet' ? ` (${r.mark_state})` : ''}` : '';
  return `${formatFlowLine(r)}${mark}`;
}

async function runReplay(config: EdgeConfig, files: string[], json: boolean, speed: number | undefined): Promise<number> {
  const policy = new MarkPolicy(config.marks);
  const { set, warnings, notices } = loadEdgePatterns(config, policy.markedProtocols);
  for (const n of notices) process.stderr.write(`notice: ${n}\n`);
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  const emit = (r: ReplayRecord, file: string) => {
    const out = json ? JSON.stringify(files.length > 1 ? { capture: file, ...r } : r) : replayLine(r);
    process.stdout.write(`${out}\n`);
  };
  let exitCode = 0;
  for (const result of await replayCaptures(files, config, set, { onFlow: emit, speed })) {
    if (result.error) {
      process.stderr.write(`error: ${result.error.message}\n`);
      exitCode = 1;
    }
    if (result.format) process.stderr.write(`${result.file}: ${result.format}, ${result.frames} frames\n${renderStats(result.stats)}\n`);
  }
  return exitCode;
}

async function runLive(config: EdgeConfig, opts: RunOptions): Promise<number> {
  // Listen before starting, so that a signal during the start still stops cleanly.
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  let edge: RunningEdge;
  try {
    edge = await startEdge(config, { installRules: opts.rules, keepRules: opts.keepRules, metricsPort: opts.metricsPort });
  } catch (err) {
    // Nothing is left behind: startEdge undoes what it did before failing.
    const e = err as { code?: string; message?: string; details?: string[] };
    process.stderr.write(`l7mesh: edge: cannot start: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`);
    for (const line of e.details ?? []) process.stderr.write(`  ${line}\n`);
    return 1;
  }
  process.stderr.write(`edge: running; SIGINT or SIGTERM stops it${opts.rules ? (opts.keepRules ? ' (rules are kept)' : ' and removes the rules') : ''}\n`);
  const signal = await signalled;
  // A second signal while stopping: give up at once.
  const force = () => process.exit(130);
  process.once('SIGINT', force);
  process.once('SIGTERM', force);
  process.stderr.write(`edge: ${signal}: stopping\n`);
  const last = edge.stats();
  let code = 0;
  try {
    await edge.stop();
  } catch (err) {
    process.stderr.write(`l7mesh: ${(err as Error).message}\n`);
    code = 1;
  }
  process.stderr.write(`${renderStats(last)}\n`);
  return code;
}

// ------------------------------------------------------------------ flows / stats

function getJson<T>(port: number, path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ host: LOOPBACK, port, path, method: 'GET', timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          reject(new Error(`http://${LOOPBACK}:${port}${path} answered ${res.statusCode}: ${body.trim()}`));
          return;
        }
        try {
          resolve(JSON.parse(body) as T);
        } catch {
          reject(new Error(`http://${LOOPBACK}:${port}${path} did not answer JSON (is it an l7mesh edge?)`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`http://${LOOPBACK}:${port}${path}: no answer within 5 s`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') reject(new Error(`no edge is listening on ${LOOPBACK}:${port} (is \`l7mesh edge run\` running, in this network namespace?)`));
      else reject(err);
    });
    req.end();
  });
}

/** One line per flow, like `conntrack -L` with the l7 columns. */
export function formatLiveFlow(f: FlowView, nowSec = Date.now() / 1000): string {
  const why = f.why ? ` why=${f.why.by}@${f.why.packet}` : '';
  const mark = f.mark ? ` mark=${f.mark}(${f.mark_state})` : ` mark=-(${f.mark_state})`;
  const group = f.group ? ` group=${f.group}` : '';
  const idle = Math.max(0, Math.round(nowSec - f.last_ts));
  const ip = (a: string) => (a.includes(':') ? 'ipv6' : 'ipv4');
  return (
    `${ip(f.src)} ${f.proto.padEnd(4)}src=${f.src} dst=${f.dst} sport=${f.sport} dport=${f.dport} ` +
    `packets=${f.packets} bytes=${f.bytes} queued=${f.queued} l7=${f.l7}${group}${mark}${why} idle=${idle}s` +
    (f.error ? ` error="${f.error}"` : '')
  );
}

function table(head: string[]): Table.Table {
  return new Table({
    head,
    colAligns: head.map((_, i) => (i === 0 ? 'left' : 'right')) as Table.HorizontalAlignment[],
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
}

/** /stats as tables: per protocol, then the edge's own counters. */
export function renderStats(s: EdgeStats): string {
  const protocols = table(['l7', 'mark', 'group', 'flows', 'packets', 'bytes']);
  for (const p of s.protocols) protocols.push([p.l7, p.mark ?? '-', p.group ?? '-', p.flows, p.packets, p.bytes]);
  const u = s.live_unset;
  protocols.push(['unset (live)', '-', '-', u.flows, u.packets, u.bytes]);
  const counters = table(['edge', 'value']);
  const p = s.packets;
  const rows: [string, string | number][] = [
    ['mode', s.mode + (s.queue ? ` (queue ${s.queue.first === s.queue.last ? s.queue.first : `${s.queue.first}-${s.queue.last}`})` : '')],
    ['uptime', `${s.uptime_sec} s`],
    ['packets received', p.received],
    ['bytes received', p.bytes],
    ['batches', s.batches],
    ['verdicts (all ACCEPT)', s.verdicts.accepted],
    ['  with the mark set', s.verdicts.marked],
    ['undecodable (accepted)', `${p.undecodable} (malformed ${p.malformed}, not IP ${p.not_ip}, not TCP/UDP ${p.not_tcp_udp}, fragments held ${p.fragments_held})`],
    ['ctnetlink marks', `${s.conntrack.ok} ok, ${s.conntrack.failed} failed, ${s.conntrack.in_flight} in flight`],
    ['flow table', `${s.flows.active} / ${s.flows.max}`],
  ];
  for (const [k, v] of Object.entries(s.source ?? {})) rows.push([`nfqueue ${k.replace(/_/g, ' ')}`, v]);
  const c = s.cluster;
  if (c) {
    rows.push(
      ['cluster', `${c.connected ? 'connected' : 'not connected'}; ${c.waiting} flows waiting for a verdict`],
      ['  segments sent', `${c.segments_sent} (${c.resends} re-sent) in ${c.batches} batches, ${c.bytes_sent} bytes; ${c.publish_errors} failed`],
      ['  verdicts', `${c.verdicts} (${c.stale_verdicts} stale, ${c.repeated_verdicts} repeated, ${c.conflicting_verdicts} conflicting, ${c.bad_verdict_messages} bad messages)`],
      ['  timed out (unknown)', c.timed_out],
    );
  }
  for (const r of rows) counters.push(r);
  return `${protocols.toString()}\n${counters.toString()}`;
}

/** The answer, or undefined after reporting why there is none (exit status 1). */
async function fromEdge<T>(answer: Promise<T>): Promise<T | undefined> {
  try {
    return await answer;
  } catch (err) {
    process.stderr.write(`l7mesh: ${(err as Error).message}\n`);
    process.exitCode = 1;
    return undefined;
  }
}

// ------------------------------------------------------------------ registration

export function registerEdgeCommand(program: Command): void {
  const edge = program.command('edge').description('the edge collector: NFQUEUE intake, fail-open, verdicts as marks');

  edge
    .command('run')
    .description('run the edge: install the rules, bind the queue, classify until SIGINT/SIGTERM (or --replay a capture)')
    .requiredOption('--config <file>', 'edge configuration (YAML)')
    .option('--replay <pcap...>', 'classify capture files through the same EdgeCore instead of NFQUEUE; print the flows and the stats')
    .option('--no-rules', 'do not install (nor remove) the netfilter rules; the operator manages them')
    .option('--keep-rules', 'leave the rules installed when stopping')
    .option('--metrics-port <port>', 'override metrics.port (loopback)', port)
    .option('--json', 'with --replay: one JSON object per flow on stdout')
    .option('--speed <x>', "with --replay: at this multiple of the capture's own pace (1: as recorded); default as fast as possible", positiveNumber)
    .action(async (opts: RunOptions) => {
      const config = configOrReport(opts.config);
      if (!config) {
        process.exitCode = 2;
        return;
      }
      process.exitCode = opts.replay ? await runReplay(config, opts.replay, Boolean(opts.json), opts.speed) : await runLive(config, opts);
    });

  edge
    .command('rules')
    .description('print the netfilter rules the edge installs for a configuration (nothing is changed)')
    .requiredOption('--config <file>', 'edge configuration (YAML)')
    .action((opts: { config: string }) => {
      const config = configOrReport(opts.config);
      if (!config) {
        process.exitCode = 2;
        return;
      }
      process.stdout.write(renderRulesReport(config));
    });

  edge
    .command('flows')
    .description("list the running edge's live flow table (like conntrack -L, with the l7 verdict and mark)")
    .requiredOption('--config <file>', 'edge configuration (YAML): where the edge listens')
    .option('--port <port>', 'override metrics.port', port)
    .option('--json', 'one JSON object per flow')
    .action(async (opts: { config: string; port?: number; json?: boolean }) => {
      const config = configOrReport(opts.config);
      if (!config) {
        process.exitCode = 2;
        return;
      }
      const flows = await fromEdge(getJson<FlowView[]>(opts.port ?? config.metrics.port, '/flows'));
      if (!flows) return;
      for (const f of flows) process.stdout.write(`${opts.json ? JSON.stringify(f) : formatLiveFlow(f)}\n`);
      if (!opts.json) process.stderr.write(`${flows.length} flow${flows.length === 1 ? '' : 's'}\n`);
    });

  edge
    .command('stats')
    .description("print the running edge's counters: per protocol, packets, verdicts, ctnetlink, flow table")
    .requiredOption('--config <file>', 'edge configuration (YAML): where the edge listens')
    .option('--port <port>', 'override metrics.port', port)
    .option('--json', 'the /stats JSON as it is')
    .action(async (opts: { config: string; port?: number; json?: boolean }) => {
      const config = configOrReport(opts.config);
      if (!config) {
        process.exitCode = 2;
        return;
      }
      const stats = await fromEdge(getJson<EdgeStats>(opts.port ?? config.metrics.port, '/stats'));
      if (!stats) return;
      process.stdout.write(`${opts.json ? JSON.stringify(stats, null, 2) : renderStats(stats)}\n`);
    });
}
