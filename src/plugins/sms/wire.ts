/** Reading providers' request bodies (form or JSON) after their signature has been checked. */
import { unreadable } from './signatures.js';

/** Form parameters of a raw `application/x-www-form-urlencoded` body; a repeated name keeps every value. */
export function formParams(raw: Buffer): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(raw.toString('utf8'))) {
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else out[k] = Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/** The flat fields of a form or JSON body (first value of a repeated form field). */
export function fields(raw: Buffer, contentType: string | undefined): Record<string, unknown> {
  if (/json/i.test(contentType ?? '')) return jsonObject(raw);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(formParams(raw))) out[k] = Array.isArray(v) ? v[0] : v;
  return out;
}

export function jsonObject(raw: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch {
    throw unreadable('the body is not valid JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw unreadable('the body must be a JSON object');
  return v as Record<string, unknown>;
}

/** A field that must be a non-empty string (numbers are accepted as their decimal form). */
export function str(o: Record<string, unknown>, name: string): string {
  const v = o[name];
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v !== 'string' || v.trim() === '') throw unreadable(`${name} is required`);
  if (v.length > 4096) throw unreadable(`${name} is too long`);
  return v.trim();
}

export function optStr(o: Record<string, unknown>, name: string): string | undefined {
  const v = o[name];
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

/** Digits of a phone number with a leading `+` (E.164 form), as Twilio and most APIs want it. */
export function e164(phone: string): string {
  const digits = phone.replace(/[^0-9]/g, '');
  return `+${digits}`;
}

export function digitsOnly(phone: string): string {
  return phone.replace(/[^0-9]/g, '');
}
