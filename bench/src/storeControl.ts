/**
 * A control process for storeBench.ts (the deployment's shape: control is a
 * process of its own, its heap only its own): starts services/control on a
 * database and a nats-server, ingests the records stream until `records`
 * flow records are written and acknowledged, prints what it measured (its
 * time and CPU, and the CPU of its PostgreSQL backends) as JSON, and exits.
 *
 *   node bench/dist/storeControl.js <databaseUrl> <natsUrl> <prefix> <records>
 */
import { busNames } from '@l7mesh/bus';
import { startControl } from '@l7mesh/control';
import { processCpu } from './cpu.js';


const [databaseUrl, natsUrl, prefix, recordsText] = process.argv.slice(2);
const records = Number(recordsText);
if (!databaseUrl || !natsUrl || !prefix || !(records > 0)) {
  process.stderr.write('usage: storeControl.js <databaseUrl> <natsUrl> <prefix> <records>\n');
  process.exit(2);
}

const cpu0 = process.cpuUsage();
const t0 = performance.now();
const control = await startControl({ databaseUrl, bus: { servers: natsUrl }, names: busNames(prefix), api: false, rollupMs: 3_600_000, log: () => undefined });
const deadline = Date.now() + 600_000;
while (control.ingest.counters.flowRecords < records) {
  if (Date.now() > deadline) {
    process.stderr.write(`control ingested ${control.ingest.counters.flowRecords} of ${records} records in 10 minutes\n`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 20));
}
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
// The PostgreSQL backends of control's pool (connected since its start), before they go with it.
const { rows } = await control.pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database()');
const postgresCpuSeconds = rows.reduce((sum, r) => sum + processCpu(r.pid), 0);
process.stdout.write(`${JSON.stringify({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, postgresCpuSeconds, counters: control.ingest.counters })}\n`);
await control.stop();
process.exit(0);
