import { busNames, connectBus } from '@l7mesh/bus';

// The floor under the verdict latency: a bare NATS request/reply between two
// processes through the cluster's server. This child answers; the bench asks.
//   node bench/dist/natsEcho.js URL SUBJECT  -> "ready" on stdout, then answers until killed.
const [url = '', subject = 'bench.echo'] = process.argv.slice(2);
const bus = await connectBus({ servers: url, name: 'l7mesh-bench-echo' }, busNames());
const reply = new Uint8Array(60);
bus.nc.subscribe(subject, { callback: (_err, msg) => void msg.respond(reply) });
await bus.nc.flush();
process.stdout.write('ready\n');
