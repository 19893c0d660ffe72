/** Each provider's delivery vocabulary mapped onto ours, in one place. */
import type { DeliveryState } from '../types.js';

/** Receipts may arrive out of order: a state only ever moves forward (a final state stays). */
export const STATE_RANK: Record<DeliveryState, number> = {
  queued: 0,
  sent: 1,
  delivered: 2,
  failed: 2,
  undelivered: 2,
};

export const DELIVERY_STATES: readonly DeliveryState[] = [
  'queued',
  'sent',
  'delivered',
  'failed',
  'undelivered',
];

export function isFinalFailure(s: DeliveryState): boolean {
  return s === 'failed' || s === 'undelivered';
}

/**
 * The aggregation service's `message_state` codes: 1 en route, 2 delivered, 3 expired, 4 deleted,
 * 5 undeliverable, 6 accepted, 7 unknown, 8 rejected.
 */
export function porticoState(code: string): DeliveryState | undefined {
  switch (code.trim()) {
    case '1':
      return 'sent';
    case '2':
      return 'delivered';
    case '3':
    case '5':
      return 'undelivered';
    case '4':
    case '8':
      return 'failed';
    case '6':
      return 'queued';
    // 7 (unknown) says nothing new: keep what we have by calling it queued (never moves back).
    case '7':
      return 'queued';
    default:
      return undefined;
  }
}

/** Twilio's MessageStatus (accepted, scheduled, queued, sending, sent, delivered, undelivered, failed, …). */
export function twilioState(status: string): DeliveryState | undefined {
  switch (status.trim().toLowerCase()) {
    case 'accepted':
    case 'scheduled':
    case 'queued':
      return 'queued';
    case 'sending':
    case 'sent':
      return 'sent';
    case 'delivered':
    case 'read':
    case 'received':
      return 'delivered';
    case 'undelivered':
      return 'undelivered';
    case 'failed':
    case 'canceled':
      return 'failed';
    default:
      return undefined;
  }
}

/** Kaleyra's delivery statuses (Sent, Delivered, Failed, Undelivered; also DELIVRD-style codes). */
export function kaleyraState(status: string): DeliveryState | undefined {
  switch (status.trim().toLowerCase()) {
    case 'queued':
    case 'accepted':
    case 'submitted':
    case 'awaited-dlr':
      return 'queued';
    case 'sent':
      return 'sent';
    case 'delivered':
    case 'delivrd':
      return 'delivered';
    case 'undelivered':
    case 'undeliv':
    case 'expired':
      return 'undelivered';
    case 'failed':
    case 'rejected':
    case 'dnd':
      return 'failed';
    default:
      return undefined;
  }
}

/** A third-party gateway's receipt status: our own vocabulary, case-insensitive. */
export function ownState(status: string): DeliveryState | undefined {
  const s = status.trim().toLowerCase();
  return (DELIVERY_STATES as readonly string[]).includes(s) ? (s as DeliveryState) : undefined;
}
