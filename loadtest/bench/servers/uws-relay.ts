/**
 * Baseline: the ceiling. A bare uWebSockets.js server that passes every frame from one client to
 * its peer (customer ↔ agent of the same pair) and does nothing else: no parsing, no ack, no
 * storage. Clients connect to `/relay?pair=<n>&role=c|a`.
 */
import uWS from 'uWebSockets.js';
import { memoryAfterGc, serve } from '../ipc.js';

interface Peer {
  pair: string;
  role: 'c' | 'a';
}

const pairs = new Map<string, { c?: uWS.WebSocket<Peer>; a?: uWS.WebSocket<Peer> }>();
let open = 0;

const app = uWS.App().ws<Peer>('/*', {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 * 1024,
  idleTimeout: 0,
  upgrade: (res, req, context) => {
    const pair = req.getQuery('pair') ?? '';
    const role = req.getQuery('role') === 'a' ? 'a' : 'c';
    res.upgrade<Peer>(
      { pair, role },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => {
    open++;
    const d = ws.getUserData();
    const p = pairs.get(d.pair) ?? {};
    pairs.set(d.pair, p);
    p[d.role] = ws;
  },
  message: (ws, msg, isBinary) => {
    const d = ws.getUserData();
    const peer = pairs.get(d.pair)?.[d.role === 'c' ? 'a' : 'c'];
    peer?.send(msg, isBinary);
  },
  close: (ws) => {
    open--;
    const d = ws.getUserData();
    const p = pairs.get(d.pair);
    if (p && p[d.role] === ws) delete p[d.role];
    if (p && !p.a && !p.c) pairs.delete(d.pair);
  },
});

app.listen('127.0.0.1', 0, (sock) => {
  if (!sock) throw new Error('uws relay: listen failed');
  const port = uWS.us_socket_local_port(sock);
  serve(
    {
      memory: () => ({ ...memoryAfterGc(), connections: open }),
    },
    () => {
      uWS.us_listen_socket_close(sock);
    },
    { url: `http://127.0.0.1:${port}`, port },
  );
});
