/**
 * The common part of the Google fakes: a gRPC server on port 0 built with `@grpc/grpc-js` from the
 * `.proto` files a Google client package ships (plus the `google/api`, `google/rpc`, … protos its
 * google-gax ships), so the real client library talks to it over the real wire protocol.
 *
 * Messages are decoded the way google-gax decodes them (camelCase fields, enums as names, `oneofs`
 * set, no defaults filled in), so a fake sees a request exactly as a Google server would read it.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const require = createRequire(import.meta.url);

/** The protos folder of a Google client package, and the google-gax one it resolves against. */
export function protoDirs(pkg: string): string[] {
  const main = require.resolve(pkg);
  const own = path.resolve(path.dirname(main), '../protos');
  const gax = path.resolve(path.dirname(createRequire(main).resolve('google-gax')), '../protos');
  return [own, gax];
}

/** Loads one service of a shipped proto file: `service` is the dotted name, e.g. `google.cloud.speech.v1.Speech`. */
export function loadService(pkg: string, protoFile: string, service: string): grpc.ServiceDefinition {
  const def = protoLoader.loadSync(protoFile, {
    includeDirs: protoDirs(pkg),
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  let node: any = grpc.loadPackageDefinition(def);
  for (const part of service.split('.')) node = node?.[part];
  if (!node?.service) throw new Error(`${service} is not a service of ${protoFile}`);
  return node.service as grpc.ServiceDefinition;
}

/** A gRPC failure a scripted turn can answer with: the status code and its details. */
export interface GrpcFailure {
  code: grpc.status;
  details: string;
}

export function isFailure(v: unknown): v is GrpcFailure {
  return !!v && typeof v === 'object' && 'code' in v && 'details' in v && !('queryResult' in v);
}

export function failure(code: grpc.status, details: string): GrpcFailure {
  return { code, details };
}

export interface GrpcFake {
  /** `127.0.0.1`: what the client's `apiEndpoint` is set to. */
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startGrpcServer(
  service: grpc.ServiceDefinition,
  impl: grpc.UntypedServiceImplementation,
): Promise<GrpcFake> {
  const server = new grpc.Server();
  server.addService(service, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    host: '127.0.0.1',
    port,
    close: () =>
      new Promise<void>((resolve) => {
        // Clients the tests forgot to close must not keep the suite alive.
        server.tryShutdown(() => resolve());
        setImmediate(() => server.forceShutdown());
      }),
  };
}

/** `google.protobuf.Struct` as it travels on the wire (what a fake must answer with). */
export function toStruct(obj: Record<string, unknown>): { fields: Record<string, unknown> } {
  return { fields: Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, toValue(v)])) };
}

function toValue(v: unknown): unknown {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v as Record<string, unknown>) };
}

/** Reads a `google.protobuf.Struct` a client sent (as decoded with `oneofs: true`). */
export function fromStruct(s: any): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = fromValue(v);
  return out;
}

function fromValue(v: any): unknown {
  switch (v?.kind) {
    case 'stringValue':
      return v.stringValue;
    case 'numberValue':
      return v.numberValue;
    case 'boolValue':
      return v.boolValue;
    case 'listValue':
      return (v.listValue?.values ?? []).map(fromValue);
    case 'structValue':
      return fromStruct(v.structValue);
    default:
      return null;
  }
}
