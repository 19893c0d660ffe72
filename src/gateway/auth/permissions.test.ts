import { describe, expect, it } from 'vitest';
import { hasPermission, isValidPermission, PERMISSIONS, permissionMatches } from './permissions.js';

describe('permission matching', () => {
  it('matches equal permissions only', () => {
    expect(permissionMatches('nexus:consumer:chat', 'nexus:consumer:chat')).toBe(true);
    expect(permissionMatches('nexus:consumer:chat', 'nexus:designer:chat')).toBe(false);
    expect(permissionMatches('nexus:consumer:chat', 'nexus:consumer')).toBe(false);
    expect(permissionMatches('nexus:consumer', 'nexus:consumer:chat')).toBe(false);
  });

  it('lets an inner * match exactly one segment', () => {
    expect(permissionMatches('nexus:*:chat', 'nexus:consumer:chat')).toBe(true);
    expect(permissionMatches('nexus:*:chat', 'nexus:designer:chat')).toBe(true);
    expect(permissionMatches('nexus:*:chat', 'nexus:consumer:chat:x')).toBe(false);
    expect(permissionMatches('nexus:*:chat', 'nexus:chat')).toBe(false);
  });

  it('lets a trailing * match one or more remaining segments, never zero', () => {
    expect(permissionMatches('nexus:*', 'nexus:consumer:chat')).toBe(true);
    expect(permissionMatches('nexus:*', 'nexus:provisioning:services')).toBe(true);
    expect(permissionMatches('nexus:provisioning:*', 'nexus:provisioning:agents')).toBe(true);
    expect(permissionMatches('nexus:provisioning:*', 'nexus:provisioning')).toBe(false);
    expect(permissionMatches('nexus:provisioning:*', 'nexus:interactions:read')).toBe(false);
    expect(permissionMatches('*', 'anything:at:all')).toBe(true);
  });

  it('treats a required * literally: a narrower grant does not satisfy it', () => {
    expect(permissionMatches('nexus:provisioning:*', 'nexus:provisioning:*')).toBe(true);
    expect(permissionMatches('nexus:provisioning:services', 'nexus:provisioning:*')).toBe(false);
  });

  it('lets a cluster grant stand for the same permission without cluster:', () => {
    expect(hasPermission(['nexus:cluster:*'], PERMISSIONS.consumerChat)).toBe(true);
    expect(hasPermission(['nexus:cluster:*'], PERMISSIONS.provisioningServices)).toBe(true);
    expect(hasPermission(['nexus:cluster:interactions:read'], PERMISSIONS.interactionsRead)).toBe(true);
    expect(hasPermission(['nexus:cluster:interactions:read'], PERMISSIONS.interactionsWrite)).toBe(false);
    expect(hasPermission(['nexus:consumer:chat'], PERMISSIONS.designerChat)).toBe(false);
    expect(hasPermission([], PERMISSIONS.consumerChat)).toBe(false);
  });

  it('checks the syntax of a permission', () => {
    for (const ok of ['nexus:consumer:chat', 'nexus:cluster:*', 'nexus:*', '*', 'a.b:c-d:e_f']) {
      expect(isValidPermission(ok)).toBe(true);
    }
    for (const bad of ['', 'nexus::chat', 'nexus:', ':x', 'nexus:con sumer', 'nexus:ch*t', 'a'.repeat(300)]) {
      expect(isValidPermission(bad)).toBe(false);
    }
  });
});
