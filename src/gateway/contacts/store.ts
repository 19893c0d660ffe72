/**
 * Contacts: a customer is matched to an existing contact of the tenant by email (case-insensitive),
 * then by phone (digits with an optional leading +); a new contact is made otherwise, so that the
 * agent sees the contact's earlier conversations.
 */
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../shared/db/pool.js';

export interface CustomerIdentity {
  email?: string;
  phone?: string;
  firstName?: string;
  lastName?: string;
  nickname?: string;
}

export interface Contact {
  id: string;
  ccid: string;
  email?: string;
  phone?: string;
  firstName?: string;
  lastName?: string;
  nickname?: string;
}

const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

export function normalizeEmail(email: string | undefined): string | undefined {
  const e = email?.trim();
  return e && EMAIL_RE.test(e) ? e.toLowerCase() : undefined;
}

/** `+1 (202) 555-0100` → `+12025550100`; anything without 5-15 digits is not a phone. */
export function normalizePhone(phone: string | undefined): string | undefined {
  if (!phone) return undefined;
  const digits = phone.replace(/[^\d]/g, '');
  if (digits.length < 5 || digits.length > 15) return undefined;
  return (phone.trim().startsWith('+') ? '+' : '') + digits;
}

interface Row {
  id: string;
  ccid: string;
  email: string | null;
  phone: string | null;
  first_name: string | null;
  last_name: string | null;
  nickname: string | null;
}

const toContact = (r: Row): Contact => ({
  id: r.id,
  ccid: r.ccid,
  ...(r.email ? { email: r.email } : {}),
  ...(r.phone ? { phone: r.phone } : {}),
  ...(r.first_name ? { firstName: r.first_name } : {}),
  ...(r.last_name ? { lastName: r.last_name } : {}),
  ...(r.nickname ? { nickname: r.nickname } : {}),
});

export class ContactStore {
  constructor(private readonly db: Queryable) {}

  async get(ccid: string, id: string): Promise<Contact | undefined> {
    const r = await this.db.query<Row>('SELECT * FROM contacts WHERE ccid = $1 AND id = $2', [ccid, id]);
    return r.rows[0] ? toContact(r.rows[0]) : undefined;
  }

  /**
   * The contact this customer is, found or made. Runs outside any transaction: a lost race on a
   * unique index only means the other node's row is used.
   */
  async match(ccid: string, who: CustomerIdentity): Promise<Contact> {
    const q = this.db;
    const email = normalizeEmail(who.email);
    const phone = normalizePhone(who.phone);
    // Two nodes may meet the same new customer at once: the unique indexes decide, and the loser
    // finds the winner's row on the next pass.
    for (let attempt = 0; attempt < 3; attempt++) {
      const found = await this.find(ccid, email, phone, q);
      if (found) {
        await this.fillIn(found, email, phone, who, q);
        return toContact({
          ...found,
          email: found.email ?? email ?? null,
          phone: found.phone ?? phone ?? null,
        });
      }
      const r = await q.query<Row>(
        `INSERT INTO contacts (id, ccid, email, phone, first_name, last_name, nickname)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING *`,
        [
          randomUUID(),
          ccid,
          email ?? null,
          phone ?? null,
          who.firstName ?? null,
          who.lastName ?? null,
          who.nickname ?? null,
        ],
      );
      if (r.rows[0]) return toContact(r.rows[0]);
    }
    throw new Error('contact match did not settle');
  }

  private async find(ccid: string, email: string | undefined, phone: string | undefined, q: Queryable) {
    if (email) {
      const r = await q.query<Row>('SELECT * FROM contacts WHERE ccid = $1 AND lower(email) = $2', [
        ccid,
        email,
      ]);
      if (r.rows[0]) return r.rows[0];
    }
    if (phone) {
      const r = await q.query<Row>('SELECT * FROM contacts WHERE ccid = $1 AND phone = $2', [ccid, phone]);
      if (r.rows[0]) return r.rows[0];
    }
    return undefined;
  }

  /** Learns the identifiers and names the contact lacked; a value another contact owns is left alone. */
  private async fillIn(
    row: Row,
    email: string | undefined,
    phone: string | undefined,
    who: CustomerIdentity,
    q: Queryable,
  ) {
    const missing =
      (!row.email && email) ||
      (!row.phone && phone) ||
      (!row.first_name && who.firstName) ||
      (!row.last_name && who.lastName);
    if (!missing) return;
    await q
      .query(
        `UPDATE contacts c SET
         email = COALESCE(c.email, (SELECT $3::text WHERE NOT EXISTS (SELECT 1 FROM contacts o WHERE o.ccid = c.ccid AND lower(o.email) = $3))),
         phone = COALESCE(c.phone, (SELECT $4::text WHERE NOT EXISTS (SELECT 1 FROM contacts o WHERE o.ccid = c.ccid AND o.phone = $4))),
         first_name = COALESCE(c.first_name, $5), last_name = COALESCE(c.last_name, $6), updated_at = now()
       WHERE c.ccid = $1 AND c.id = $2`,
        [row.ccid, row.id, email ?? null, phone ?? null, who.firstName ?? null, who.lastName ?? null],
      )
      .catch(() => undefined);
  }
}
