/**
 * The query API over HTTP (fastify): GET /top, /flows and /accounting, the
 * store's bounded queries behind a bearer token.
 *
 * - Every query parameter is checked by a JSON schema before the handler
 *   runs; an unknown parameter is refused (a misspelt filter must not widen
 *   a query silently), and a refusal is 400 naming the parameter
 *   (`{ error, code, field, message }`). The store checks its own bounds
 *   again (time ranges, result sizes) and its refusals are 400 with the
 *   field too.
 * - SQL is the store's, parameterised: a filter's text is only ever a bound
 *   value.
 * - Authorization: Bearer <token> on every route but /health; without it,
 *   or with another token, 401 before any parameter is looked at. The
 *   comparison takes the same time whatever the token.
 * - PostgreSQL unreachable: 503.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type pg from 'pg';
import { accountingSeries, listFlows, STORE_LIMITS, StoreError, topTalkers, type SeriesDimension } from '@l7mesh/store';
import { badOption } from './errors.js';
import { INSTANT_PATTERN, parseInstant, parseWindow, WINDOW_PATTERN } from './timeSpec.js';

export interface ApiOptions {
  pool: pg.Pool;
  /** The bearer token clients must send (at least 16 characters). */
  token: string;
  /** Listen address (default 127.0.0.1) and port (default 0: any free port). */
  host?: string;
  port?: number;
}

export interface RunningApi {
  /** http://host:port */
  readonly url: string;
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

const NAME = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001f\\u007f]+$' } as const;
const INSTANT = { type: 'string', pattern: INSTANT_PATTERN } as const;
const ADDRESS_OR_PREFIX = { type: 'string', minLength: 2, maxLength: 49, pattern: '^[0-9A-Fa-f.:]+(/\\d{1,3})?$' } as const;

const TOP_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['by'],
  properties: {
    by: { type: 'string', enum: ['protocol', 'edge', 'src', 'dst'] },
    since: { ...INSTANT, default: '1h' },
    until: INSTANT,
    edge: NAME,
    proto: NAME,
    interface: NAME,
    limit: { type: 'integer', minimum: 1, maximum: STORE_LIMITS.maxTopLimit, default: 10 },
  },
} as const;

const FLOWS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    live: { type: 'boolean' },
    src: ADDRESS_OR_PREFIX,
    dst: ADDRESS_OR_PREFIX,
    proto: NAME,
    edge: NAME,
    zone: { type: 'integer', minimum: 0, maximum: 0xffffffff },
    since: INSTANT,
    until: INSTANT,
    limit: { type: 'integer', minimum: 1, maximum: STORE_LIMITS.maxListLimit, default: 100 },
  },
} as const;

const GROUP_BY_PATTERN = '^(proto|edge|interface|direction)(,(proto|edge|interface|direction)){0,3}$';
const ACCOUNTING_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    groupBy: { type: 'string', pattern: GROUP_BY_PATTERN, default: 'proto' },
    window: { type: 'string', pattern: WINDOW_PATTERN, default: '5m' },
    since: { ...INSTANT, default: '24h' },
    until: INSTANT,
    edge: NAME,
    proto: NAME,
    interface: NAME,
    direction: { type: 'string', enum: ['in', 'out'] },
    maxRows: { type: 'integer', minimum: 1, maximum: STORE_LIMITS.maxSeriesRows },
  },
} as const;

/** A 400 naming the parameter at fault. */
class BadParameter extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

function instant(q: Record<string, unknown>, field: string, now: Date): Date | undefined {
  const v = q[field];
  if (v === undefined) return undefined;
  const d = parseInstant(String(v), now);
  if (!d) throw new BadParameter(field, `${JSON.stringify(v)} is not a time (15m, 1h, 7d ago, or an ISO 8601 date-time)`);
  return d;
}

/** Counters as JSON numbers while they are exact, as strings beyond 2^53. */
function num(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

/** The same time for every token: compared as SHA-256 digests. */
function sameToken(given: string, token: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

/** Where the ajv error points: the parameter (instancePath, or the missing / unknown property). */
function fieldOfValidation(err: FastifyError): string {
  const v = err.validation?.[0];
  if (!v) return 'query';
  const params = v.params as Record<string, unknown>;
  if (typeof params['missingProperty'] === 'string') return params['missingProperty'];
  if (typeof params['additionalProperty'] === 'string') return params['additionalProperty'];
  return v.instancePath.replace(/^\//, '').replace(/\//g, '.') || 'query';
}

/** Builds the API (not listening): the routes, the token check and the error mapping. */
export function buildApi(options: Pick<ApiOptions, 'pool' | 'token'>): FastifyInstance {
  if (typeof options.token !== 'string' || options.token.length < 16) throw badOption('token', 'the API token must be at least 16 characters');
  const { pool, token } = options;
  const app = Fastify({
    logger: false,
    // Unknown parameters are refused, not silently dropped (fastify's default removes them).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, useDefaults: true, allErrors: false } },
  });

  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.url === '/health') return;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer (\S+)$/i.exec(header);
    if (!m || !sameToken(m[1]!, token)) {
      reply.header('WWW-Authenticate', 'Bearer realm="l7mesh"');
      // Returning the reply ends the request here (no validation, no handler).
      return reply.code(401).send({ error: 'Unauthorized', code: 'UNAUTHORIZED', message: m ? 'the token is not valid' : 'an Authorization: Bearer <token> header is required' });
    }
  });

  app.setErrorHandler(async (err: FastifyError, _req, reply) => {
    if (err.validation) {
      const field = fieldOfValidation(err);
      const v = err.validation[0]!;
      const detail = v.keyword === 'additionalProperties' ? 'is not a parameter of this query' : v.keyword === 'required' ? 'is required' : (v.message ?? 'is not valid');
      return reply.code(400).send({ error: 'Bad Request', code: 'BAD_PARAMETER', field, message: `${field}: ${detail}` });
    }
    if (err instanceof BadParameter) return reply.code(400).send({ error: 'Bad Request', code: 'BAD_PARAMETER', field: err.field, message: err.message });
    if (err instanceof StoreError) return reply.code(400).send({ error: 'Bad Request', code: err.code, field: err.field, message: err.message });
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : undefined;
    if (status) return reply.code(status).send({ error: 'Bad Request', code: err.code ?? 'BAD_REQUEST', message: err.message });
    // Anything else comes from PostgreSQL or the connection to it.
    return reply.code(503).send({ error: 'Service Unavailable', code: 'STORE_UNAVAILABLE', message: 'the database did not answer; try again later' });
  });

  app.get('/health', async () => ({ status: 'ok' }));

  app.get('/top', { schema: { querystring: TOP_SCHEMA } }, async (req) => {
    const q = req.query as Record<string, unknown>;
    const now = new Date();
    const rows = await topTalkers(pool, {
      by: q.by as 'protocol',
      since: instant(q, 'since', now)!,
      ...(q.until !== undefined ? { until: instant(q, 'until', now)! } : {}),
      ...(q.edge !== undefined ? { edge: q.edge as string } : {}),
      ...(q.proto !== undefined ? { proto: q.proto as string } : {}),
      ...(q.interface !== undefined ? { interface: q.interface as string } : {}),
      limit: q.limit as number,
    });
    return { by: q.by, rows: rows.map((r) => ({ key: r.key, ...(r.zone !== undefined ? { zone: r.zone } : {}), flows: num(r.flows), packets: num(r.packets), bytes: num(r.bytes) })) };
  });

  app.get('/flows', { schema: { querystring: FLOWS_SCHEMA } }, async (req) => {
    const q = req.query as Record<string, unknown>;
    const now = new Date();
    const rows = await listFlows(pool, {
      ...(q.live !== undefined ? { live: q.live as boolean } : {}),
      ...(q.src !== undefined ? { src: q.src as string } : {}),
      ...(q.dst !== undefined ? { dst: q.dst as string } : {}),
      ...(q.proto !== undefined ? { proto: q.proto as string } : {}),
      ...(q.edge !== undefined ? { edge: q.edge as string } : {}),
      ...(q.zone !== undefined ? { zone: q.zone as number } : {}),
      ...(q.since !== undefined ? { since: instant(q, 'since', now)! } : {}),
      ...(q.until !== undefined ? { until: instant(q, 'until', now)! } : {}),
      limit: q.limit as number,
    });
    return {
      flows: rows.map((r) => ({
        ...r,
        origPackets: num(r.origPackets),
        origBytes: num(r.origBytes),
        replyPackets: num(r.replyPackets),
        replyBytes: num(r.replyBytes),
      })),
    };
  });

  app.get('/accounting', { schema: { querystring: ACCOUNTING_SCHEMA } }, async (req) => {
    const q = req.query as Record<string, unknown>;
    const now = new Date();
    const windowSec = parseWindow(String(q.window));
    if (windowSec === undefined) throw new BadParameter('window', `${JSON.stringify(q.window)} is not a window of whole minutes (5m, 1h, 1d)`);
    const groupBy = String(q.groupBy).split(',') as SeriesDimension[];
    const series = await accountingSeries(pool, {
      groupBy,
      windowSec,
      since: instant(q, 'since', now)!,
      ...(q.until !== undefined ? { until: instant(q, 'until', now)! } : {}),
      ...(q.edge !== undefined ? { edge: q.edge as string } : {}),
      ...(q.proto !== undefined ? { proto: q.proto as string } : {}),
      ...(q.interface !== undefined ? { interface: q.interface as string } : {}),
      ...(q.direction !== undefined ? { direction: q.direction as 'in' } : {}),
      ...(q.maxRows !== undefined ? { maxRows: q.maxRows as number } : {}),
    });
    return {
      resolution: series.resolution,
      windowSec,
      points: series.points.map((p) => ({ ...p, start: p.start.toISOString(), flows: num(p.flows), packets: num(p.packets), bytes: num(p.bytes) })),
    };
  });

  return app;
}

/** Builds the API and listens; CONTROL_BAD_OPTION for a short token. */
export async function startApi(options: ApiOptions): Promise<RunningApi> {
  const app = buildApi(options);
  const address = await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  return { url: address, app, close: () => app.close() };
}
