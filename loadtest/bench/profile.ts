/**
 * Reads a V8 `.cpuprofile` (written by `node --cpu-prof`) and says where the time went: self time
 * per function and per area (a package under node_modules, a file of ours, or V8's own buckets
 * such as (garbage collector) and (program)). Idle time is left out of the percentages.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  file: string;
  /** The bench phase the gateway was profiled in (relay, durable, …). */
  phase?: string;
  busy_ms: number;
  idle_ms: number;
  top_functions: Array<{ name: string; where: string; self_ms: number; pct: number }>;
  top_areas: Array<{ area: string; self_ms: number; pct: number }>;
}

export function areaOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  const ours = /\/(src|loadtest)\/(.*)$/.exec(url);
  if (ours) return `${ours[1]}/${ours[2]}`;
  if (url.startsWith('node:')) return url;
  return url.replace(/^file:\/\//, '');
}

export function summarizeProfile(file: string, top = 20): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  if (p.samples && p.timeDeltas) {
    // timeDeltas[i] is the time before sample i; attribute the following interval to sample i.
    for (let i = 0; i < p.samples.length; i++) {
      const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
      self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + Math.max(0, dt));
    }
  } else {
    const per =
      (p.endTime - p.startTime) /
      1000 /
      Math.max(
        1,
        p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0),
      );
    for (const n of p.nodes) self.set(n.id, (n.hitCount ?? 0) * per);
  }
  let idle = 0;
  let busy = 0;
  const fns = new Map<string, { name: string; where: string; ms: number }>();
  const areas = new Map<string, number>();
  for (const [id, ms] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const cf = n.callFrame;
    if (cf.functionName === '(idle)') {
      idle += ms;
      continue;
    }
    busy += ms;
    const where = cf.url ? `${areaOf(cf.url, cf.functionName)}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName}@${where}`;
    const f = fns.get(key) ?? { name: cf.functionName || '(anonymous)', where, ms: 0 };
    f.ms += ms;
    fns.set(key, f);
    const area = areaOf(cf.url, cf.functionName);
    areas.set(area, (areas.get(area) ?? 0) + ms);
  }
  const pct = (ms: number) => Math.round((ms / Math.max(1e-9, busy)) * 1000) / 10;
  return {
    file,
    busy_ms: Math.round(busy),
    idle_ms: Math.round(idle),
    top_functions: [...fns.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, self_ms: Math.round(f.ms), pct: pct(f.ms) })),
    top_areas: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([area, ms]) => ({ area, self_ms: Math.round(ms), pct: pct(ms) })),
  };
}
