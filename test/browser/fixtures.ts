/** What the browser suites share: a provisioned tenant, the host pages, transcript readers. */
import type { FrameLocator, Page } from 'playwright-core';
import { expect } from 'vitest';
import { api, type TestNexus } from '../helpers/nexus.js';
import { createTenant } from '../helpers/tenants.js';

export interface Provisioned {
  ccid: string;
  /** The tenant's own key (every nexus permission): for the test's REST reads, never in a page. */
  apiKey: string;
  /** What a site puts in its page: a key that holds nexus:consumer:chat only. */
  widgetKey: string;
  agentToken: string;
}

/** A tenant with the chat endpoint `web` → queue `support`, staffed by agent `alex`, via REST. */
export async function provision(t: TestNexus): Promise<Provisioned> {
  const { ccid, apiKey } = await createTenant(t);
  const admin = { authorization: `Bearer ${t.adminToken}` };
  const ep = await api(t.url, 'PUT', `/nexus/v3/provisioning/endpoints/${ccid}/web`, {
    headers: admin,
    json: { queue: 'support' },
  });
  expect(ep.status, JSON.stringify(ep.body)).toBeLessThan(300);
  const ag = await api(t.url, 'PUT', `/nexus/v3/provisioning/agents/${ccid}/alex`, {
    headers: admin,
    json: { name: 'Alex Morgan', queues: ['support'], capacity: 3 },
  });
  expect(ag.status, JSON.stringify(ag.body)).toBeLessThan(300);
  const tok = await api(t.url, 'POST', `/nexus/v3/provisioning/agents/${ccid}/alex/tokens`, {
    headers: admin,
    json: {},
  });
  expect(tok.status, JSON.stringify(tok.body)).toBeLessThan(300);
  const widget = await api(t.url, 'POST', '/nexus/v3/apikeys', {
    headers: admin,
    json: { tenant: ccid, name: 'Shop widget', permissions: ['nexus:consumer:chat'] },
  });
  expect(widget.status, JSON.stringify(widget.body)).toBe(201);
  return {
    ccid,
    apiKey,
    widgetKey: widget.body.data.id as string,
    agentToken: tok.body.data.token as string,
  };
}

/** A customer's site on another origin, embedding the widget with one script tag. */
export function shopPage(gateway: string, apiKey: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
    <body><h1>A shop</h1>
    <script src="${gateway}/ux/widget.js" data-api-key="${apiKey}" data-endpoint="web" data-first-name="Sam" data-last-name="Rivera" defer></script>
    </body></html>`;
}

/** An agent desktop on another origin: frames the console and answers its handshake with the token. */
export function desktopPage(gateway: string, ccid: string, hostOrigin: string, agentToken: string): string {
  const q = new URLSearchParams({ customername: 'Acme', ccid, parentorigin: hostOrigin });
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Agent desktop</title></head>
    <body><iframe id="nexus" title="Nexus" src="${gateway}/ux/comm?${q}" style="width:1200px;height:760px;border:0"></iframe>
    <script>
      const token = ${JSON.stringify(agentToken)};
      window.addEventListener('message', (e) => {
        const frame = document.getElementById('nexus');
        if (e.source === frame.contentWindow && e.data && e.data.type === 'nexus:ready') {
          frame.contentWindow.postMessage({ type: 'nexus:token', token }, ${JSON.stringify(new URL(gateway).origin)});
        }
      });
    </script></body></html>`;
}

/** The texts of the messages the widget holds, in order (a pending send has no data-seq). */
export function widgetTranscript(scope: Page | FrameLocator): Promise<string[]> {
  return scope.locator('[data-nexus-widget] li[data-seq] .bubble').allTextContents();
}

export function consoleTranscript(frame: FrameLocator | Page): Promise<string[]> {
  return frame.locator('.transcript li[data-seq] .bubble').allTextContents();
}

/** Opens the desktop, waits for the console to connect, and goes Ready. */
export async function readyAgent(page: Page, desktopUrl: string): Promise<FrameLocator> {
  await page.goto(desktopUrl);
  const agent = page.frameLocator('#nexus');
  const ready = agent.getByRole('switch');
  await ready.waitFor();
  await agent.locator('.conn[data-state="live"]').waitFor({ timeout: 15_000 });
  await ready.click();
  await agent.locator('[role="switch"][aria-checked="true"]').waitFor();
  return agent;
}

/** Clicks a conversation in the console's list; on a timeout, says what the list and the gateway held. */
export async function openFromList(
  agent: FrameLocator,
  name: RegExp,
  t: Pick<TestNexus, 'url'>,
  apiKey: string,
): Promise<void> {
  try {
    await agent.locator('nav.side').getByRole('button', { name }).click({ timeout: 20_000 });
  } catch (err) {
    const lines = [`no conversation ${name} in the console's list: ${(err as Error).message.split('\n')[0]}`];
    lines.push(`list: ${await agent.locator('nav.side').textContent()}`);
    for (const state of ['queued', 'assigned', 'asynchold', 'done']) {
      const r = await api(t.url, 'GET', `/nexus/v3/interactions?state=${state}`, {
        headers: { 'x-api-key': apiKey },
      });
      lines.push(
        `${state}: ${JSON.stringify((r.body?.data?.interactions ?? []).map((c: any) => [c.id, c.agentId, c.lastSeq]))}`,
      );
    }
    throw new Error(lines.join('\n'));
  }
}
