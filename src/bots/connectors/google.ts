/**
 * What the Google connectors (Dialogflow CX, Dialogflow ES) and speech-to-text share: the client
 * options built from a bot's settings, `google.protobuf.Struct` in and out, and one mapping of gRPC
 * status codes to `BotConnectorError` (retryable when Google is down, slow or throttling; not when
 * it refused the credentials or the request).
 */
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { BotConnectorError, type BotSettings } from './types.js';

type Obj = Record<string, unknown>;

export const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v.length > 0 ? v : undefined;
export const obj = (v: unknown): Obj | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;

/** The service-account key: the secret itself, or a `serviceAccount` / `credentials` field (object or JSON text). */
export function serviceAccount(settings: BotSettings): {
  client_email: string;
  private_key: string;
  project_id?: string;
} {
  const s = settings.secret;
  let key: unknown = s.client_email ? s : (s.serviceAccount ?? s.credentials);
  if (typeof key === 'string') {
    try {
      key = JSON.parse(key);
    } catch {
      key = undefined;
    }
  }
  const k = obj(key);
  const email = str(k?.client_email);
  const privateKey = str(k?.private_key);
  if (!email || !privateKey)
    throw new BotConnectorError(
      `bot ${settings.name}: the secret must be a Google service-account key (client_email and private_key)`,
      'config',
    );
  const project = str(k?.project_id);
  return { client_email: email, private_key: privateKey, ...(project ? { project_id: project } : {}) };
}

/**
 * Options for a google-gax client. `data.apiEndpoint` (`host` or `host:port`) and `data.port`
 * override Google's host (a regional endpoint, a private one, a local emulator); `data.plaintext`
 * speaks gRPC without TLS, which only an emulator or a test fake does, and then sends no OAuth
 * token (gRPC refuses call credentials on a channel without TLS).
 */
export function googleClientOptions(settings: BotSettings, defaultEndpoint: string): Obj {
  const key = serviceAccount(settings);
  const opts: Obj = {
    credentials: { client_email: key.client_email, private_key: key.private_key },
    projectId: str(settings.data.projectId) ?? key.project_id,
  };
  const endpoint = str(settings.data.apiEndpoint) ?? defaultEndpoint;
  const m = /^(.*):(\d+)$/.exec(endpoint);
  opts.apiEndpoint = m ? m[1] : endpoint;
  const port = Number(settings.data.port ?? (m ? m[2] : 443));
  if (!Number.isInteger(port) || port <= 0 || port > 65535)
    throw new BotConnectorError(`bot ${settings.name}: data.port must be a TCP port`, 'config');
  opts.port = port;
  if (settings.data.plaintext === true) opts.sslCreds = grpc.credentials.createInsecure();
  return opts;
}

/**
 * The Dialogflow session id of a conversation: the conversation id itself when Dialogflow takes it
 * (at most 36 characters of letters, digits, `-` and `_`), else a stable digest of it.
 */
export function sessionIdOf(conversationId: string): string {
  return /^[A-Za-z0-9_-]{1,36}$/.test(conversationId)
    ? conversationId
    : createHash('sha256').update(conversationId).digest('hex').slice(0, 36);
}

/** Call options for one turn: the turn's deadline, and no retries inside (athena decides). */
export function callOptions(timeoutMs: number): Obj {
  return { timeout: timeoutMs, retry: { retryCodes: [] } };
}

/** Plain JSON of a `google.protobuf.Struct` as google-gax decodes it. */
export function fromStruct(s: unknown): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(obj(obj(s)?.fields) ?? {})) out[k] = fromValue(v);
  return out;
}

function fromValue(v: unknown): unknown {
  const x = obj(v);
  if (!x) return null;
  const kind =
    str(x.kind) ??
    ['stringValue', 'numberValue', 'boolValue', 'structValue', 'listValue'].find(
      (k) => x[k] !== undefined && x[k] !== null,
    );
  switch (kind) {
    case 'stringValue':
      return x.stringValue;
    case 'numberValue':
      return x.numberValue;
    case 'boolValue':
      return x.boolValue;
    case 'structValue':
      return fromStruct(x.structValue);
    case 'listValue':
      return ((obj(x.listValue)?.values as unknown[]) ?? []).map(fromValue);
    default:
      return null;
  }
}

/** A `google.protobuf.Struct` of plain JSON (query parameters, event parameters). */
export function toStruct(o: Obj): { fields: Obj } {
  return { fields: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, toValue(v)])) };
}

function toValue(v: unknown): unknown {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  if (typeof v === 'object') return { structValue: toStruct(v as Obj) };
  return { stringValue: String(v) };
}

const RETRYABLE = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.INTERNAL,
  grpc.status.ABORTED,
  grpc.status.UNKNOWN,
  grpc.status.CANCELLED,
]);

/** Wraps a Google client failure once, naming the status, with the original as `cause`. */
export function googleFailure(err: unknown, what: string, timeoutMs: number): BotConnectorError {
  const e = err as { code?: unknown; details?: unknown; message?: unknown };
  const code = typeof e?.code === 'number' ? (e.code as grpc.status) : undefined;
  const detail = str(e?.details) ?? str(e?.message) ?? 'no details';
  if (code === undefined)
    // Not a gRPC status: the client could not even build the call (credentials, endpoint).
    return new BotConnectorError(`${what} could not be called: ${detail}`, 'unavailable', { cause: err });
  const name = grpc.status[code] ?? String(code);
  if (code === grpc.status.DEADLINE_EXCEEDED)
    return new BotConnectorError(`${what} did not answer within ${timeoutMs} ms`, 'timeout', { cause: err });
  return new BotConnectorError(
    `${what} answered ${name}: ${detail}`,
    RETRYABLE.has(code) ? 'unavailable' : 'rejected',
    {
      cause: err,
    },
  );
}

/** The Dialogflow name of an audio encoding (`LINEAR16` → `AUDIO_ENCODING_LINEAR_16`), or undefined. */
export function dialogflowEncoding(encoding: string): string | undefined {
  const e = encoding.toUpperCase().replace(/^AUDIO_ENCODING_/, '');
  const table: Record<string, string> = {
    LINEAR16: 'AUDIO_ENCODING_LINEAR_16',
    LINEAR_16: 'AUDIO_ENCODING_LINEAR_16',
    FLAC: 'AUDIO_ENCODING_FLAC',
    MULAW: 'AUDIO_ENCODING_MULAW',
    AMR: 'AUDIO_ENCODING_AMR',
    AMR_WB: 'AUDIO_ENCODING_AMR_WB',
    OGG_OPUS: 'AUDIO_ENCODING_OGG_OPUS',
    SPEEX_WITH_HEADER_BYTE: 'AUDIO_ENCODING_SPEEX_WITH_HEADER_BYTE',
    ALAW: 'AUDIO_ENCODING_ALAW',
  };
  return table[e];
}
