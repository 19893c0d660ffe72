/**
 * The k6 scripts cannot run here (k6 is not installable), so this checks what can be checked:
 * they parse as ES modules, import only k6's own modules and files of theirs, use no Node
 * globals, declare the scenario's shape (setup, default, thresholds on the custom trend), and
 * their Socket.IO framing helpers speak the real protocol: against socket.io-parser's own
 * encoder and decoder, and against a real socket.io server over a real WebSocket.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import * as acorn from 'acorn';
import { Server } from 'socket.io';
import { Decoder, Encoder, PacketType } from 'socket.io-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  decodeFrame,
  decodePacket,
  encodeAck,
  encodeConnect,
  encodeEvent,
  SocketIoConnection,
  socketUrl,
} from '../loadtest/k6/lib/socketio.js';

const K6_DIR = resolve(import.meta.dirname, '../loadtest/k6');

function jsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return jsFiles(p);
    return f.endsWith('.js') ? [p] : [];
  });
}

function walk(node: any, visit: (n: any) => void): void {
  if (!node || typeof node.type !== 'string') return;
  visit(node);
  for (const v of Object.values(node)) {
    if (Array.isArray(v)) for (const c of v) walk(c, visit);
    else if (v && typeof v === 'object' && typeof (v as any).type === 'string') walk(v, visit);
  }
}

function parse(file: string): acorn.Program {
  return acorn.parse(readFileSync(file, 'utf8'), { ecmaVersion: 2020, sourceType: 'module' });
}

describe('k6 scripts', () => {
  const files = jsFiles(K6_DIR);

  it('exist, with the chat scenario', () => {
    expect(files.map((f) => relative(K6_DIR, f)).sort()).toEqual(
      expect.arrayContaining(['chat.js', 'lib/socketio.js']),
    );
  });

  it.each(files.map((f) => [relative(K6_DIR, f), f]))(
    '%s parses as an ES module with only k6 imports',
    (_n, file) => {
      const ast = parse(file);
      const imports = ast.body
        .filter((n) => n.type === 'ImportDeclaration')
        .map((n: any) => n.source.value as string);
      for (const src of imports) {
        if (src.startsWith('.')) {
          const target = resolve(dirname(file), src);
          expect(target.startsWith(K6_DIR), `${src} stays inside loadtest/k6`).toBe(true);
          expect(files).toContain(target);
        } else {
          expect(src === 'k6' || src.startsWith('k6/'), `${src} is a k6 module`).toBe(true);
        }
      }
      const nodeOnly = new Set(['require', 'process', 'Buffer', '__dirname', 'module', 'global']);
      walk(ast, (n) => {
        if (n.type === 'Identifier' && nodeOnly.has(n.name))
          throw new Error(`${file} uses the Node global ${n.name}`);
        if (n.type === 'ImportExpression')
          throw new Error(`${file} uses dynamic import, which k6 does not support`);
      });
    },
  );

  it('chat.js has setup, a default function, options with thresholds on the end-to-end trend', () => {
    const ast = parse(join(K6_DIR, 'chat.js'));
    const exported = new Set<string>();
    let hasDefault = false;
    let thresholds: string[] = [];
    for (const n of ast.body as any[]) {
      if (n.type === 'ExportDefaultDeclaration') hasDefault = true;
      if (n.type === 'ExportNamedDeclaration' && n.declaration) {
        const d = n.declaration;
        if (d.type === 'FunctionDeclaration') exported.add(d.id.name);
        if (d.type === 'VariableDeclaration') {
          for (const v of d.declarations) {
            exported.add(v.id.name);
            if (v.id.name === 'options') {
              const th = v.init.properties.find((p: any) => p.key.name === 'thresholds');
              thresholds = th.value.properties.map((p: any) => p.key.name ?? p.key.value);
            }
          }
        }
      }
    }
    expect(hasDefault).toBe(true);
    expect([...exported]).toEqual(expect.arrayContaining(['setup', 'options', 'chatE2eLatency']));
    expect(thresholds).toEqual(expect.arrayContaining(['chat_e2e_latency', 'chat_ack_errors', 'checks']));
    const src = readFileSync(join(K6_DIR, 'chat.js'), 'utf8');
    expect(src).toContain("new Trend('chat_e2e_latency', true)");
    // The REST provisioning the setup step performs.
    for (const path of [
      '/provisioning/tenants',
      '/provisioning/endpoints/',
      '/provisioning/agents/',
      '/chat/sessions',
    ]) {
      expect(src).toContain(path);
    }
  });
});

describe('Socket.IO v5 framing helpers', () => {
  const encoder = new Encoder();

  const packets = [
    { type: PacketType.CONNECT, nsp: '/consumer', data: { clientToken: 'abc', lastSeq: 7 } },
    { type: PacketType.CONNECT, nsp: '/', data: undefined },
    {
      type: PacketType.EVENT,
      nsp: '/agent',
      data: ['message.send', { text: 'hé, "quoted" , commas', n: 1 }],
      id: 12,
    },
    { type: PacketType.EVENT, nsp: '/', data: ['typing', { typing: true }] },
    { type: PacketType.ACK, nsp: '/consumer', data: [{ ok: true, id: 'x', seq: 3 }], id: 0 },
    { type: PacketType.CONNECT_ERROR, nsp: '/agent', data: { message: 'unauthorized' } },
    { type: PacketType.DISCONNECT, nsp: '/consumer' },
  ];

  it.each(packets.map((p) => [PacketType[p.type], p]))(
    'decodes what socket.io-parser encodes (%s)',
    (_t, p) => {
      const [wire] = encoder.encode(p as any) as string[];
      const d = decodePacket(wire);
      expect(d.type).toBe(p.type);
      expect(d.nsp).toBe(p.nsp);
      expect(d.id).toBe((p as any).id);
      expect(d.data).toEqual(p.data);
      // And the Engine.IO wrapping.
      expect(decodeFrame(`4${wire}`).sio).toEqual(d);
    },
  );

  it('encodes what socket.io-parser decodes', () => {
    const decoded: any[] = [];
    const dec = new Decoder();
    dec.on('decoded', (p) => decoded.push(p));
    for (const frame of [
      encodeConnect('/consumer', { clientToken: 't' }),
      encodeEvent('/agent', 'message.send', [{ conversationId: 'c', text: 'a,b' }], 5),
      encodeEvent('/', 'typing', [{ typing: false }]),
      encodeAck('/consumer', 9, [{ ok: true }]),
    ]) {
      expect(frame[0]).toBe('4');
      dec.add(frame.slice(1));
    }
    expect(decoded).toEqual([
      { type: PacketType.CONNECT, nsp: '/consumer', data: { clientToken: 't' } },
      {
        type: PacketType.EVENT,
        nsp: '/agent',
        id: 5,
        data: ['message.send', { conversationId: 'c', text: 'a,b' }],
      },
      { type: PacketType.EVENT, nsp: '/', data: ['typing', { typing: false }] },
      { type: PacketType.ACK, nsp: '/consumer', id: 9, data: [{ ok: true }] },
    ]);
  });

  it('builds the WebSocket URL socket.io-client uses for the websocket transport', () => {
    expect(socketUrl('http://127.0.0.1:8080/', '/chat/v3/socket.io')).toBe(
      'ws://127.0.0.1:8080/chat/v3/socket.io/?EIO=4&transport=websocket',
    );
    expect(socketUrl('https://h.example', '/chat/v3/socket.io/')).toBe(
      'wss://h.example/chat/v3/socket.io/?EIO=4&transport=websocket',
    );
  });

  describe('against a real socket.io server', () => {
    let http: HttpServer;
    let io: Server;
    let url: string;

    beforeAll(async () => {
      http = createServer();
      // Short heartbeats, so the test sees the helper answer pings.
      io = new Server(http, { path: '/chat/v3/socket.io', pingInterval: 100, pingTimeout: 150 });
      const consumer = io.of('/consumer');
      consumer.use((socket, next) => {
        if ((socket.handshake.auth as any).clientToken === 'good') next();
        else next(new Error('bad token'));
      });
      consumer.on('connection', (socket) => {
        socket.emit('message', { seq: 1, text: 'welcome', lastSeq: (socket.handshake.auth as any).lastSeq });
        socket.on('message.send', (p, ack) => ack({ ok: true, echo: p }));
        socket.on('ask.me', () => {
          socket.emit('question', { q: 'ready?' }, (answer: unknown) => socket.emit('answered', answer));
        });
      });
      await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
      url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    });

    afterAll(async () => {
      await new Promise<void>((r) => io.close(() => r()));
    });

    function open(): Promise<{ ws: WebSocket; io: SocketIoConnection }> {
      const ws = new WebSocket(socketUrl(url, '/chat/v3/socket.io'));
      const c = new SocketIoConnection(ws);
      ws.on('message', (d) => c.onFrame(d.toString()));
      return new Promise((res, rej) => {
        ws.once('error', rej);
        c.onOpen = () => res({ ws, io: c });
      });
    }

    it('joins a namespace with auth, gets events, and gets acks', async () => {
      const { ws, io: c } = await open();
      expect(c.handshake.sid).toEqual(expect.any(String));
      const first = new Promise<any>((r) => c.on('/consumer', 'message', r));
      await new Promise((r, j) => c.connect('/consumer', { clientToken: 'good', lastSeq: 4 }, r, j));
      expect(await first).toEqual({ seq: 1, text: 'welcome', lastSeq: 4 });
      const ack = await new Promise<any>((r) =>
        c.emit('/consumer', 'message.send', [{ clientMessageId: 'm1', text: 'hi' }], r),
      );
      expect(ack).toEqual({ ok: true, echo: { clientMessageId: 'm1', text: 'hi' } });
      ws.close();
    });

    it('answers server events that ask for an ack', async () => {
      const { ws, io: c } = await open();
      await new Promise((r, j) => c.connect('/consumer', { clientToken: 'good' }, r, j));
      c.on('/consumer', 'question', (_q: unknown, reply: (x: unknown) => void) => reply({ yes: true }));
      const answered = new Promise<any>((r) => c.on('/consumer', 'answered', r));
      c.emit('/consumer', 'ask.me', []);
      expect(await answered).toEqual({ yes: true });
      ws.close();
    });

    it('reports a refused namespace connect', async () => {
      const { ws, io: c } = await open();
      const err = await new Promise<any>((ok, refused) =>
        c.connect('/consumer', { clientToken: 'bad' }, ok, refused),
      ).catch((e) => e);
      expect(err).toEqual({ message: 'bad token' });
      ws.close();
    });

    it('keeps the connection alive by answering pings', async () => {
      const { ws, io: c } = await open();
      await new Promise((r, j) => c.connect('/consumer', { clientToken: 'good' }, r, j));
      let closed = false;
      ws.on('close', () => {
        closed = true;
      });
      // Several ping intervals: without pongs the server closes after pingInterval + pingTimeout.
      let pings = 0;
      await new Promise<void>((r) =>
        ws.on('message', (d) => {
          if (d.toString() === '2' && ++pings === 5) r();
        }),
      );
      expect(closed).toBe(false);
      const ack = await new Promise<any>((r) => c.emit('/consumer', 'message.send', [{ n: 1 }], r));
      expect(ack.ok).toBe(true);
      ws.close();
    });
  });
});
