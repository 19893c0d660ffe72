/**
 * /ux/demo: a customer's web site with the widget (left) and the agent console (right), side by
 * side against this gateway. The page asks the gateway for its demo tenant's agent token and hands
 * it to the console with the same postMessage handshake an agent desktop uses.
 */
import { ApiError, call } from '../shared/api.js';
import { h } from '../shared/dom.js';

interface DemoSession {
  ccid: string;
  customername: string;
  endpoint: string;
  queue: string;
  agentId: string;
  agentName: string;
  agentToken: string;
}

const app = document.getElementById('app')!;
const status = h('p', { class: 'status', role: 'status' }, 'Setting up a demo tenant…');
const siteFrame = h('iframe', { title: 'Customer: a web site with the chat widget', class: 'frame' });
const agentFrame = h('iframe', { title: 'Agent: the Nexus agent console', class: 'frame' });
const agentLabel = h('span', null, 'Agent console');

const resetCustomer = () => {
  // The widget keeps its chat in this origin's localStorage: forgetting it makes a new customer.
  for (const k of Object.keys(localStorage)) if (k.startsWith('nexus.chat:')) localStorage.removeItem(k);
  siteFrame.src = '/ux/demo/site';
};

app.append(
  h(
    'header',
    { class: 'top' },
    h(
      'div',
      { class: 'brand' },
      h('span', { class: 'logo', 'aria-hidden': 'true' }, 'N'),
      h('span', { class: 'brand-name' }, 'Nexus'),
      h('span', { class: 'tag' }, 'Digital channels gateway'),
    ),
    h(
      'nav',
      { 'aria-label': 'Gateway' },
      h('a', { href: '/health/detail', target: '_blank', rel: 'noopener' }, 'Health'),
    ),
  ),
  h(
    'main',
    null,
    h(
      'section',
      { class: 'intro' },
      h('h1', null, 'Web chat, live: customer and agent side by side'),
      h(
        'p',
        null,
        'Both panes talk to this gateway over WebSocket. Every message is committed before it is acknowledged, so reload either side, or drop the network, and the conversation picks up where it was.',
      ),
      h(
        'ol',
        { class: 'steps' },
        h('li', null, h('b', null, 'Go Ready'), ' in the agent console.'),
        h('li', null, h('b', null, 'Open the chat bubble'), ' on the shop and write a message.'),
        h(
          'li',
          null,
          h('b', null, 'Answer'),
          ' from the console, add an internal note, then reload the shop: nothing is lost.',
        ),
      ),
      status,
    ),
    h(
      'div',
      { class: 'panes' },
      h(
        'section',
        { class: 'pane', 'aria-label': 'Customer' },
        h(
          'div',
          { class: 'pane-bar' },
          h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
          h('span', { class: 'url' }, 'northwind.example/jackets'),
          h('button', { type: 'button', class: 'small', onclick: resetCustomer }, 'New customer'),
        ),
        siteFrame,
      ),
      h(
        'section',
        { class: 'pane', 'aria-label': 'Agent' },
        h(
          'div',
          { class: 'pane-bar' },
          h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
          agentLabel,
        ),
        agentFrame,
      ),
    ),
  ),
  h(
    'footer',
    null,
    'This demo tenant exists only on this gateway; the demo is on by default for ',
    h('code', null, 'npm start'),
    ' on the embedded defaults and off otherwise (',
    h('code', null, 'NEXUS_UX_DEMO'),
    ').',
  ),
);

let session: DemoSession | undefined;

window.addEventListener('message', (e: MessageEvent) => {
  // The handshake: the console says it is ready, the page answers with the token, same origin only.
  if (e.source !== agentFrame.contentWindow || e.origin !== location.origin) return;
  if ((e.data as { type?: string })?.type === 'nexus:ready' && session) {
    agentFrame.contentWindow?.postMessage(
      { type: 'nexus:token', token: session.agentToken },
      location.origin,
    );
  }
});

async function start(): Promise<void> {
  try {
    session = await call<DemoSession>('/ux/demo/session', { method: 'POST', json: {} });
  } catch (err) {
    status.textContent =
      err instanceof ApiError ? `The demo could not start: ${err.message}` : 'The demo could not start.';
    status.classList.add('bad');
    return;
  }
  status.textContent = `Demo tenant ${session.customername} (${session.ccid}): endpoint “${session.endpoint}” routes to queue “${session.queue}”, staffed by ${session.agentName}.`;
  agentLabel.textContent = `Agent console · ${session.agentName}`;
  const q = new URLSearchParams({ customername: session.customername, ccid: session.ccid });
  agentFrame.src = `/ux/comm?${q}`;
  siteFrame.src = '/ux/demo/site';
}

void start();
