import { describe, expect, it } from 'vitest';
import { kaleyraState, ownState, porticoState, STATE_RANK, twilioState } from './states.js';

describe('delivery states of each provider', () => {
  it('maps the aggregation service message_state codes', () => {
    expect(['1', '2', '3', '4', '5', '6', '7', '8'].map(porticoState)).toEqual([
      'sent',
      'delivered',
      'undelivered',
      'failed',
      'undelivered',
      'queued',
      'queued',
      'failed',
    ]);
    expect(porticoState('9')).toBeUndefined();
  });

  it("maps Twilio's MessageStatus", () => {
    expect(
      ['queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'canceled'].map(twilioState),
    ).toEqual(['queued', 'sent', 'sent', 'delivered', 'undelivered', 'failed', 'failed']);
    expect(twilioState('bogus')).toBeUndefined();
  });

  it("maps Kaleyra's statuses case-insensitively", () => {
    expect(['Sent', 'Delivered', 'Failed', 'Undelivered', 'DELIVRD'].map(kaleyraState)).toEqual([
      'sent',
      'delivered',
      'failed',
      'undelivered',
      'delivered',
    ]);
  });

  it('takes our own vocabulary from third-party gateways, nothing else', () => {
    expect(ownState('Delivered')).toBe('delivered');
    expect(ownState('read')).toBeUndefined();
  });

  it('ranks final states above the way there', () => {
    expect(STATE_RANK.queued).toBeLessThan(STATE_RANK.sent);
    expect(STATE_RANK.sent).toBeLessThan(STATE_RANK.delivered);
    expect(STATE_RANK.failed).toBe(STATE_RANK.delivered);
  });
});
