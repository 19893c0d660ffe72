/**
 * Service secrets at rest: AES-256-GCM with a random 96-bit nonce per value, the tenant and
 * service name bound as associated data (a ciphertext moved to another row does not decrypt).
 * Format: `v1.<nonce b64url>.<ciphertext b64url>.<tag b64url>`.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

export class SecretBox {
  private readonly key: Buffer;

  constructor(keyBase64: string) {
    const key = Buffer.from(keyBase64, 'base64');
    if (key.length !== 32) throw new Error('nexus.secretsKey must be 32 bytes, base64-encoded');
    this.key = key;
  }

  static generateKey(): string {
    return randomBytes(32).toString('base64');
  }

  seal(value: unknown, aad: string): string {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, nonce);
    c.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([c.update(JSON.stringify(value ?? {}), 'utf8'), c.final()]);
    return [
      'v1',
      nonce.toString('base64url'),
      ct.toString('base64url'),
      c.getAuthTag().toString('base64url'),
    ].join('.');
  }

  /**
   * A stable secret for `label`, derived from the key (HMAC-SHA256, base64url): the same on every
   * node, never the key itself. Used where a tenant registered a target without its own signing key.
   */
  derive(label: string): string {
    return createHmac('sha256', this.key).update(`derive:${label}`).digest('base64url');
  }

  open<T = unknown>(sealed: string, aad: string): T {
    const [v, n, ct, tag] = sealed.split('.');
    if (v !== 'v1' || !n || ct === undefined || !tag) throw new Error('not a sealed secret');
    const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(n, 'base64url'));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    const pt = Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]);
    return JSON.parse(pt.toString('utf8')) as T;
  }
}
