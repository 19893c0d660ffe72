/**
 * A customer's voice message end to end, in real Chromium (its fake microphone): the demo page's
 * widget records with MediaRecorder (WebM/Opus), uploads the recording (`POST {selfUri}/media`),
 * sends a `File` message naming it, and plays it back from the local recording. athena (in
 * process, the default AI connector) fetches it from the gateway's media route, transcribes it
 * through the Speech v1 gRPC fake with the real `@google-cloud/speech` client, and the webhook bot
 * gets the transcript as text; its answer appears in the widget.
 *
 * The fake does not decode Opus: it "hears" the bytes of the WebM blocks. So the test checks that
 * the audio it got is byte for byte the upload, that the bot got text (not audio), and that the
 * bot's answer to that text reaches the widget.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type FrameLocator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Athena } from '../../src/bots/athena.js';
import { startAthenaWithNexus } from '../../src/bots/in-process.js';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { FakeRasa } from '../athena/helpers.js';
import { type SpeechFake, startSpeechFake } from '../fakes/google/speech.js';
import { engines } from '../helpers/engines.js';
import { api, startNexus, type TestNexus } from '../helpers/nexus.js';
import { buildBundles } from './build.js';
import { CHROMIUM_PATH } from './chromium.js';

const SPEECH_KEY = 'AIzaSy-voice-message-browser-test';
const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

describe.each(engines())('a voice message from the widget reaches a webhook bot as text (%s)', (engine) => {
  let t: TestNexus;
  let athena: Athena;
  let speech: SpeechFake;
  let rasa: FakeRasa;
  let context: Awaited<ReturnType<typeof chromium.launchPersistentContext>>;
  let profile: string;
  let page: Page;
  let ccid: string;
  let site: FrameLocator;

  beforeAll(async () => {
    t = await startNexus({ engine, nexus: { ux: { demo: 'on', assetsDir: buildBundles() } } });
    speech = await startSpeechFake(SPEECH_KEY);
    const config = loadConfig({
      env: {},
      overrides: { athena: { port: 0, host: '127.0.0.1', google: { speechApiKey: SPEECH_KEY } } },
    }).athena;
    athena = await startAthenaWithNexus(
      t.nexus,
      config,
      createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      { speech: { apiEndpoint: `${speech.host}:${speech.port}`, plaintext: true } },
    );
    rasa = await FakeRasa.start();
    // The transcript of an Opus recording read as text is noise: the bot answers its digest.
    rasa.script = (c) => ({ body: [{ text: `Bot heard: ${digest(c.message)}` }] });

    profile = mkdtempSync(join(tmpdir(), 'nexus-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        // A microphone without a person: granted without a prompt, fed by Chromium's fake device.
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
      ],
      viewport: { width: 1440, height: 940 },
    });
    page = await context.newPage();
    await page.goto(`${t.url}/ux/demo`);
    const status = page.getByRole('status');
    await status.getByText(/Demo tenant Northwind Outfitters/).waitFor({ timeout: 20_000 });
    const line = (await status.textContent()) ?? '';
    ccid = /\((demo-[0-9a-f]+)\)/.exec(line)?.[1] as string;
    expect(ccid, line).toBeDefined();

    const admin = { authorization: `Bearer ${t.adminToken}` };
    const bot = await api(t.url, 'PUT', `/nexus/v3/provisioning/services/${ccid}/Bot-voice-helper`, {
      headers: admin,
      json: { url: rasa.url, data: { provider: 'Webhook', nickname: 'Northwind Voice' } },
    });
    expect(bot.status, JSON.stringify(bot.body)).toBeLessThan(300);
    const ep = await api(t.url, 'PUT', `/nexus/v3/provisioning/endpoints/${ccid}/web`, {
      headers: admin,
      json: { queue: 'support', bot: 'voice-helper' },
    });
    expect(ep.status, JSON.stringify(ep.body)).toBeLessThan(300);

    site = page.frameLocator('iframe[title^="Customer"]');
    await site.getByRole('button', { name: 'Chat with us' }).click();
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await athena?.close();
    await speech?.close();
    await rasa?.close();
    await t?.cleanup();
  });

  const widget = () => site.locator('[data-nexus-widget]');
  const mic = () => site.getByRole('button', { name: 'Record a voice message' });
  const uploads = async () =>
    (
      await t.nexus.db.query<{ id: string; mimetype: string; content: Buffer }>(
        'SELECT id, mimetype, content FROM sms_media WHERE ccid = $1 ORDER BY created_at',
        [ccid],
      )
    ).rows;

  it('records, cancels without uploading, then records, uploads and sends; the bot answers the transcript', async () => {
    // A labelled toggle, off.
    await expect(mic().getAttribute('aria-pressed')).resolves.toBe('false');

    // Cancel: the recording is thrown away, nothing is uploaded or sent.
    await mic().click();
    const bar = site.getByRole('group', { name: 'Recording a voice message' });
    await bar.waitFor();
    await expect(
      site.getByRole('button', { name: 'Stop recording and send' }).getAttribute('aria-pressed'),
    ).resolves.toBe('true');
    await bar.getByRole('button', { name: 'Cancel' }).click();
    await bar.waitFor({ state: 'hidden' });
    await expect(mic().getAttribute('aria-pressed')).resolves.toBe('false');
    expect(await uploads()).toEqual([]);

    // Record about two seconds (the bar's elapsed time says so), then stop and send.
    await mic().click();
    await bar.waitFor();
    await bar.locator('.rec-time').getByText('0:02').waitFor({ timeout: 10_000 });
    await bar.getByRole('button', { name: 'Stop and send' }).click();

    // The customer's own transcript: a voice message with a player on the local recording.
    const mine = widget().locator('li.msg.mine[data-seq]').filter({ hasText: 'Voice message' });
    await mine.waitFor({ timeout: 20_000 });
    const src = await mine.locator('audio[controls]').getAttribute('src');
    expect(src).toMatch(/^blob:/);
    // It plays: the browser decodes the recording (no CSP or format refusal).
    await expect
      .poll(() => mine.locator('audio').evaluate((a: HTMLAudioElement) => a.readyState), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(1);

    // Stored once, as the recorder made it; the message names it on the tenant's media route.
    const [file, ...more] = await uploads();
    expect(more).toEqual([]);
    expect(file.mimetype).toBe('audio/webm');
    expect(file.content.subarray(0, 4).toString('hex')).toBe('1a45dfa3'); // an EBML (WebM) header
    expect(file.content.length).toBeGreaterThan(1000);
    const msg = (
      await t.nexus.db.query<{ type: string; text: string; content: any }>(
        `SELECT m.type, m.text, m.content FROM messages m JOIN conversations c ON c.id = m.conversation_id
          WHERE c.ccid = $1 AND m.from_type = 'Customer'`,
        [ccid],
      )
    ).rows;
    expect(msg).toEqual([
      {
        type: 'File',
        text: 'Voice message',
        content: {
          attachments: [
            {
              url: `/nexus/v3/sms/${ccid}/media/${file.id}`,
              mediaType: 'audio/webm;codecs=opus',
              name: 'voice-message.webm',
            },
          ],
        },
      },
    ]);

    // athena fetched it and the Speech fake got exactly the uploaded bytes, as WebM Opus.
    await expect.poll(() => rasa.calls.length, { timeout: 30_000 }).toBeGreaterThanOrEqual(1);
    const sent = speech.recognizeRequests.length
      ? speech.recognizeRequests.map((r) => ({ config: r.config, audio: Buffer.from(r.audio.content) }))
      : speech.streams.map((s) => ({
          config: s[0].streamingConfig.config,
          audio: Buffer.concat(s.slice(1).map((m) => Buffer.from(m.audioContent))),
        }));
    expect(sent).toHaveLength(1);
    expect(sent[0].config.encoding).toBe('WEBM_OPUS');
    expect(sent[0].audio.equals(file.content)).toBe(true);

    // The bot got text, not audio: what the fake recognised in those bytes. (The fake "hears" the
    // Opus blocks as UTF-8 noise, and asking it again for the same bytes does not always give the
    // same noise, so the words are not compared here; speech-voice.test.ts compares real words.)
    expect(rasa.calls).toHaveLength(1);
    expect(typeof rasa.calls[0].message).toBe('string');
    expect(rasa.calls[0].message.length).toBeGreaterThan(0);
    const heard = rasa.calls[0].message as string;

    // And its answer reaches the customer.
    await widget()
      .locator('li.msg.theirs .bubble')
      .filter({ hasText: 'Bot heard:' })
      .waitFor({ timeout: 20_000 });
    const answer = await widget().locator('li.msg.theirs .bubble').last().textContent();
    expect(answer).toBe(`Bot heard: ${digest(heard)}`);
  }, 120_000);

  it('the agent the bot hands off to hears the voice messages in the console', async () => {
    // The demo's agent console, ready, serving the endpoint's queue.
    const agent = page.frameLocator('iframe[title^="Agent"]');
    await agent.locator('.conn[data-state="live"]').waitFor({ timeout: 20_000 });
    await agent.getByRole('switch').click();
    await agent.locator('[role="switch"][aria-checked="true"]').waitFor();

    // The next voice message is one the bot passes to a person.
    // It shows a picture first: a link elsewhere, which the console offers but does not load.
    rasa.script = () => ({
      body: [
        { image: 'https://cdn.example.com/ridgeline-shell.png' },
        { custom: { handoff: { queue: 'support', reason: 'asked for a person' } } },
      ],
    });
    await mic().click();
    const bar = site.getByRole('group', { name: 'Recording a voice message' });
    await bar.waitFor();
    await bar.locator('.rec-time').getByText('0:01').waitFor({ timeout: 10_000 });
    await bar.getByRole('button', { name: 'Stop and send' }).click();
    await expect.poll(async () => (await uploads()).length, { timeout: 20_000 }).toBe(2);

    // The console fetched both with the agent's token and plays them: the gateway's media route
    // needs the token, so a player that has decoded its metadata got the real recording.
    const players = agent.locator('li.msg.customer .attachment[data-kind="audio"] audio[controls]');
    await expect.poll(() => players.count(), { timeout: 30_000 }).toBe(2);
    for (const i of [0, 1]) {
      expect(await players.nth(i).getAttribute('src')).toMatch(/^blob:/);
      await expect
        .poll(() => players.nth(i).evaluate((a: HTMLAudioElement) => a.readyState), { timeout: 10_000 })
        .toBeGreaterThanOrEqual(1);
    }
    const keep = agent.locator('li.msg.customer .attachment a[download]');
    await expect(keep.first().getAttribute('download')).resolves.toBe('voice-message.webm');
    expect(await agent.locator('.attachment .error').count()).toBe(0);
    const picture = agent.locator(
      'li.msg.bot .attachment a[href="https://cdn.example.com/ridgeline-shell.png"]',
    );
    await expect(picture.getAttribute('target')).resolves.toBe('_blank');
    await expect(picture.getAttribute('rel')).resolves.toBe('noopener noreferrer');
    expect(await agent.locator('li.msg.bot .attachment img').count()).toBe(0);
  }, 120_000);
});
