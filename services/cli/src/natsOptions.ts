import type { Command } from 'commander';
import type { BusOptions } from '@l7mesh/bus';
import { collect } from './optionParsers.js';

/** The NATS options every cluster command takes. */
export interface NatsCliOptions {
  nats?: string[];
  prefix: string;
  user?: string;
  pass?: string;
  token?: string;
  creds?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

export const DEFAULT_NATS = 'nats://127.0.0.1:4222';

export function addNatsOptions(cmd: Command): Command {
  return cmd
    .option('--nats <url>', `NATS server URL (repeatable: every server of a cluster; default ${DEFAULT_NATS})`, collect)
    .option('--prefix <prefix>', 'subject, stream and bucket prefix of the cluster', 'l7')
    .option('--user <user>', 'NATS user')
    .option('--pass <password>', 'NATS password')
    .option('--token <token>', 'NATS token')
    .option('--creds <file>', 'NATS credentials file (JWT + nkey seed)')
    .option('--tls-ca <file>', 'CA certificate to verify the NATS server')
    .option('--tls-cert <file>', 'client certificate')
    .option('--tls-key <file>', 'client key');
}

/** The connection the options describe. */
export function busOptionsOf(o: NatsCliOptions, name: string): BusOptions {
  const tls = o.tlsCa || o.tlsCert || o.tlsKey ? { caFile: o.tlsCa, certFile: o.tlsCert, keyFile: o.tlsKey } : undefined;
  return { servers: o.nats && o.nats.length > 0 ? o.nats : [DEFAULT_NATS], name, user: o.user, pass: o.pass, token: o.token, credsFile: o.creds, tls };
}
