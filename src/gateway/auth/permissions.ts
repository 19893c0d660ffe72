/**
 * Permissions are `:`-separated segments (`nexus:consumer:chat`). In a GRANTED permission a `*`
 * segment matches exactly one segment, and a trailing `*` matches one or more remaining segments.
 * The REQUIRED permission a route names is literal: a route that requires `nexus:provisioning:*`
 * is satisfied only by a grant whose pattern covers that literal string (`nexus:provisioning:*`,
 * `nexus:*`, …), not by the narrower `nexus:provisioning:services`.
 *
 * Cluster permissions: a grant `nexus:cluster:<rest>` also grants `nexus:<rest>`; whether it may
 * be used for another tenant depends on the key's tenant (`*`), never on the permission alone.
 * `docs/permissions.md` is the catalog for users; keep the two in step.
 */

/** The permissions the API requires, by the routes that require them. */
export const PERMISSIONS = {
  /** Widgets: create chat sessions and talk in them. */
  consumerChat: 'nexus:consumer:chat',
  /** External routers (Designer): route interactions and post messages into them. */
  designerChat: 'nexus:designer:chat',
  /** A tenant's provisioning, by area; a grant of `nexus:provisioning:*` covers them all. */
  provisioningTenants: 'nexus:provisioning:tenants',
  provisioningServices: 'nexus:provisioning:services',
  provisioningChannels: 'nexus:provisioning:channels',
  provisioningEndpoints: 'nexus:provisioning:endpoints',
  provisioningAgents: 'nexus:provisioning:agents',
  interactionsRead: 'nexus:interactions:read',
  interactionsWrite: 'nexus:interactions:write',
  /** Campaigns: outbound SMS and email. */
  outboundSend: 'nexus:outbound:send',
  /** The AI connector: bot configuration, bot replies, agent-assist suggestions. */
  aiConfig: 'nexus:ai:config',
  aiMessages: 'nexus:ai:messages',
  aiSuggestions: 'nexus:ai:suggestions',
} as const;

/** Permissions that only a cluster key (tenant `*`) may hold. */
export const CLUSTER_PREFIX = 'nexus:cluster:';

const SEGMENT_RE = /^(\*|[A-Za-z0-9_.-]{1,64})$/;

/** Syntax of a permission: 1-12 segments of letters, digits, `_.-`, or `*`. */
export function isValidPermission(p: string): boolean {
  if (typeof p !== 'string' || p.length === 0 || p.length > 256) return false;
  const segs = p.split(':');
  return segs.length <= 12 && segs.every((s) => SEGMENT_RE.test(s));
}

/** Whether one granted pattern covers the required permission. */
export function permissionMatches(granted: string, required: string): boolean {
  const g = granted.split(':');
  const r = required.split(':');
  for (let i = 0; i < g.length; i++) {
    const last = i === g.length - 1;
    if (g[i] === '*' && last) return r.length > i; // one or more remaining segments
    if (i >= r.length) return false;
    if (g[i] !== '*' && g[i] !== r[i]) return false;
  }
  return g.length === r.length;
}

/** What a grant really grants: a cluster grant also grants the same permission without `cluster:`. */
function expand(granted: string): string[] {
  return granted.startsWith(CLUSTER_PREFIX)
    ? [granted, `nexus:${granted.slice(CLUSTER_PREFIX.length)}`]
    : [granted];
}

/** Whether any of the granted permissions covers the required one. */
export function hasPermission(granted: readonly string[], required: string): boolean {
  return granted.some((g) => expand(g).some((x) => permissionMatches(x, required)));
}

export function isClusterPermission(p: string): boolean {
  return p.startsWith(CLUSTER_PREFIX);
}
