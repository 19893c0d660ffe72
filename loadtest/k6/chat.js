/**
 * k6 chat scenario: customers and agents talk over the gateway's socket.io endpoint, spoken
 * frame by frame over k6's WebSocket API (Engine.IO v4 / Socket.IO v5, see lib/socketio.js).
 *
 * setup() provisions through the REST API with the admin token: a tenant (its API key), a chat
 * endpoint with a queue, and AGENTS agents with their tokens. Each VU then plays one agent and
 * one customer per iteration: the agent goes ready, the customer opens a chat session, the
 * conversation is routed to an agent, and the customer sends MESSAGES messages at RATE per
 * second. End-to-end latency (customer send → the agent receives it) is the custom trend
 * `chat_e2e_latency`; the ack time (send → committed ack) is `chat_ack_latency`.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 -e ADMIN_TOKEN=... loadtest/k6/chat.js
 */
import { check, fail } from 'k6';
import http from 'k6/http';
import { Counter, Rate, Trend } from 'k6/metrics';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';
import { SocketIoConnection, socketUrl } from './lib/socketio.js';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const ADMIN_TOKEN = __ENV.ADMIN_TOKEN || '';
const SOCKET_PATH = __ENV.SOCKET_PATH || '/chat/v3/socket.io';
const VUS = Number(__ENV.VUS || 50);
const AGENTS = Number(__ENV.AGENTS || VUS);
const MESSAGES = Number(__ENV.MESSAGES || 20);
const RATE = Number(__ENV.RATE || 2);
const DURATION = __ENV.DURATION || '2m';
const API = `${BASE_URL}/nexus/v3`;

export const chatE2eLatency = new Trend('chat_e2e_latency', true);
export const chatAckLatency = new Trend('chat_ack_latency', true);
export const chatSessionSetup = new Trend('chat_session_setup', true);
export const chatDelivered = new Rate('chat_delivered');
export const chatAckErrors = new Counter('chat_ack_errors');

export const options = {
  scenarios: {
    chat: { executor: 'constant-vus', vus: VUS, duration: DURATION, gracefulStop: '30s' },
  },
  thresholds: {
    chat_e2e_latency: ['p(99)<50', 'p(50)<10'],
    chat_ack_latency: ['p(99)<50'],
    chat_delivered: ['rate>0.999'],
    chat_ack_errors: ['count<1'],
    checks: ['rate>0.99'],
    http_req_failed: ['rate<0.01'],
  },
};

function adminHeaders() {
  return { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' };
}

function must(res, what) {
  const ok = check(res, { [`${what} is 2xx`]: (r) => r.status >= 200 && r.status < 300 });
  if (!ok) fail(`${what} failed: ${res.status} ${res.body}`);
  return res.json();
}

/** Provisions one tenant for the whole run through the public REST API. */
export function setup() {
  if (!ADMIN_TOKEN) fail('set ADMIN_TOKEN (the gateway prints it at start, or NEXUS_ADMIN_TOKEN)');
  const ccid = `k6-${Date.now().toString(36)}`;
  const tenant = must(
    http.post(
      `${API}/provisioning/tenants`,
      JSON.stringify({ id: ccid, name: `k6 ${ccid}`, type: 'PureEngage' }),
      {
        headers: adminHeaders(),
      },
    ),
    'create tenant',
  );
  const apiKey = tenant.data.xapikey;
  const endpoint = 'k6-chat';
  must(
    http.put(`${API}/provisioning/endpoints/${ccid}/${endpoint}`, JSON.stringify({ queue: 'k6' }), {
      headers: adminHeaders(),
    }),
    'create endpoint',
  );
  const agents = [];
  for (let i = 0; i < AGENTS; i++) {
    const agentId = `agent-${i}`;
    must(
      http.put(
        `${API}/provisioning/agents/${ccid}/${agentId}`,
        JSON.stringify({ name: `Agent ${i}`, queues: ['k6'], capacity: 1000 }),
        { headers: adminHeaders() },
      ),
      'create agent',
    );
    const tok = must(
      http.post(`${API}/provisioning/agents/${ccid}/${agentId}/tokens`, '{}', { headers: adminHeaders() }),
      'agent token',
    );
    agents.push({ agentId, token: tok.data.token });
  }
  return { ccid, apiKey, endpoint, agents };
}

/** Opens one socket.io connection on `nsp` with `auth`; `ready(io)` runs once the namespace is joined. */
function openSocket(nsp, auth, ready, onClose) {
  const ws = new WebSocket(socketUrl(BASE_URL, SOCKET_PATH));
  const io = new SocketIoConnection(ws);
  ws.addEventListener('open', () => {
    io.connect(
      nsp,
      auth,
      () => ready(io, ws),
      (err) => {
        check(err, { [`${nsp} connect accepted`]: () => false });
        ws.close();
      },
    );
  });
  ws.addEventListener('message', (e) => io.onFrame(e.data));
  ws.addEventListener('error', (e) => check(e, { [`${nsp} socket without error`]: () => false }));
  ws.addEventListener('close', () => onClose?.());
  return ws;
}

export default function (data) {
  const agent = data.agents[(__VU - 1) % data.agents.length];
  const started = Date.now();
  const session = must(
    http.post(
      `${API}/chat/sessions`,
      `data[nickname]=vu${__VU}-${__ITER}&data[firstName]=K6&data[lastName]=Customer&data[endpoint]=${data.endpoint}`,
      { headers: { 'x-api-key': data.apiKey, 'Content-Type': 'application/x-www-form-urlencoded' } },
    ),
    'create chat session',
  );
  const clientToken = session.data.clientToken;
  const sentAt = {};
  let pending = 0;
  let sent = 0;
  let customerWs;
  let timer;
  let finished = false;
  const tag = `${__VU}-${__ITER}`;

  const finish = () => {
    if (finished) return;
    finished = true;
    if (timer) clearInterval(timer);
    // Whatever was sent and never reached the agent counts against the delivery rate.
    for (const _id of Object.keys(sentAt)) chatDelivered.add(false);
    if (customerWs) customerWs.close();
    if (agentWs) agentWs.close();
  };
  // A conversation that never gets going must not hold the VU forever.
  const guard = setTimeout(finish, (MESSAGES / RATE) * 1000 + 30000);

  const agentWs = openSocket('/agent', { token: agent.token }, (agentIo) => {
    agentIo.on('/agent', 'message', (m) => {
      const t = m?.clientMessageId ? sentAt[m.clientMessageId] : undefined;
      if (t === undefined) return;
      chatE2eLatency.add(Date.now() - t);
      chatDelivered.add(true);
      delete sentAt[m.clientMessageId];
      pending--;
      if (pending === 0 && sent === MESSAGES) {
        clearTimeout(guard);
        finish();
      }
    });
    agentIo.emit('/agent', 'agent.state', [{ state: 'ready' }], (ack) => {
      check(ack, { 'agent ready': (a) => a && a.ok === true });
      customerWs = openSocket('/consumer', { clientToken, lastSeq: 0 }, (customerIo) => {
        chatSessionSetup.add(Date.now() - started);
        timer = setInterval(() => {
          if (sent >= MESSAGES) {
            clearInterval(timer);
            return;
          }
          const clientMessageId = `k6-${tag}-${sent}`;
          const t = Date.now();
          sentAt[clientMessageId] = t;
          pending++;
          sent++;
          customerIo.emit(
            '/consumer',
            'message.send',
            [{ clientMessageId, type: 'Text', text: `hello ${sent}` }],
            (a) => {
              chatAckLatency.add(Date.now() - t);
              if (!a || a.ok !== true) chatAckErrors.add(1);
            },
          );
        }, 1000 / RATE);
      });
    });
  });
}
