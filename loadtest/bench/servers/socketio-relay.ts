/**
 * Baseline: what a team would write by hand. socket.io with its default `ws` engine (its own
 * node:http server, no uWS) and the default in-memory adapter; customers and agents of a pair
 * join the pair's room, and `message.send` is relayed to the peer as `message` and acked, with
 * no validation and no storage. Same path and namespaces as the gateway, so the generator speaks
 * to it exactly as it speaks to the gateway.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import * as msgpackParser from 'socket.io-msgpack-parser';
import { memoryAfterGc, serve } from '../ipc.js';

// The settings comparison (bench `settings`) switches the parser and per-message deflate.
const msgpack = process.env.BENCH_SIO_PARSER === 'msgpack';
const deflate = process.env.BENCH_SIO_DEFLATE === '1';

const httpServer = createServer();
const io = new Server(httpServer, {
  path: '/chat/v3/socket.io',
  serveClient: false,
  transports: ['websocket'],
  ...(msgpack ? { parser: msgpackParser } : {}),
  perMessageDeflate: deflate ? { threshold: 0 } : false,
});
const seqs = new Map<string, number>();

for (const [nsp, peerNsp] of [
  ['/consumer', '/agent'],
  ['/agent', '/consumer'],
] as const) {
  io.of(nsp).on('connection', (socket) => {
    const pair = String((socket.handshake.auth as { pair?: unknown }).pair ?? '');
    const room = `pair:${pair}`;
    socket.join(room);
    socket.on('message.send', (p: Record<string, unknown>, ack?: (a: unknown) => void) => {
      const seq = (seqs.get(pair) ?? 0) + 1;
      seqs.set(pair, seq);
      io.of(peerNsp)
        .to(room)
        .emit('message', { ...p, conversationId: pair, seq });
      if (typeof ack === 'function') ack({ ok: true, id: `${pair}-${seq}`, seq });
    });
  });
}

httpServer.listen(0, '127.0.0.1', () => {
  const addr = httpServer.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  serve(
    {
      memory: () => ({ ...memoryAfterGc(), connections: io.engine.clientsCount }),
    },
    async () => {
      io.disconnectSockets(true);
      await new Promise<void>((r) => io.close(() => r()));
    },
    { url: `http://127.0.0.1:${port}`, port },
  );
});
