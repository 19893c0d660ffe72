/**
 * CPU time and memory of processes, read from /proc (Linux). A process group is measured as the
 * sum over its live processes plus, for a parent that reaps its children (the PostgreSQL
 * postmaster), the children's time already folded into its cutime/cstime, so backends that exit
 * between two samples are still counted.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticks = 0;
function clockTicks(): number {
  if (!ticks) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

interface Stat {
  ppid: number;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
}

function readStat(pid: number): Stat | undefined {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state); utime is field 14 → f[11].
  return {
    ppid: Number(f[1]),
    utime: Number(f[11]),
    stime: Number(f[12]),
    cutime: Number(f[13]),
    cstime: Number(f[14]),
  };
}

/** User + system CPU seconds of one process (optionally with its reaped children), or undefined once it is gone. */
export function cpuSeconds(pid: number, withReapedChildren = false): number | undefined {
  const st = readStat(pid);
  if (!st) return undefined;
  const t = st.utime + st.stime + (withReapedChildren ? st.cutime + st.cstime : 0);
  return t / clockTicks();
}

export function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const st = readStat(pid);
    if (st?.ppid === ppid) out.push(pid);
  }
  return out;
}

/** Resident set size in bytes (VmRSS). */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function ppidOf(pid: number): number | undefined {
  return readStat(pid)?.ppid;
}

/** A named set of processes whose CPU is measured together. */
export interface ProcessGroup {
  name: string;
  /** What the group is (shown in reports), e.g. "PostgreSQL server (all databases)". */
  label: string;
  sample(): Promise<number> | number;
  /** Groups whose processes come and go between samples are also polled while a phase runs. */
  poll?: boolean;
}

export function singleProcess(name: string, label: string, pid: () => number | undefined): ProcessGroup {
  let last = 0;
  return {
    name,
    label,
    sample: () => {
      const p = pid();
      // A process that exited keeps its last reading, so a phase that spans its exit is not negative.
      const v = p === undefined ? undefined : cpuSeconds(p);
      if (v !== undefined) last = v;
      return last;
    },
  };
}

/** A parent and all its children (PostgreSQL: the postmaster and every backend and worker). */
export function processTree(name: string, label: string, root: number): ProcessGroup {
  return {
    name,
    label,
    sample: () => {
      let t = cpuSeconds(root, true) ?? 0;
      for (const c of childrenOf(root)) t += cpuSeconds(c) ?? 0;
      return t;
    },
  };
}

export interface CpuReading {
  name: string;
  label: string;
  cpu_seconds: number;
  /** CPU seconds per wall second: 1.0 = one core fully busy. */
  cores: number;
}

/** Measures every group over a phase: `const stop = await meter.start(); …; const r = await stop();`. */
export class CpuMeter {
  constructor(private readonly groups: ProcessGroup[]) {}

  add(g: ProcessGroup): void {
    this.groups.push(g);
  }

  async start(): Promise<() => Promise<CpuReading[]>> {
    const t0 = performance.now();
    const before = await Promise.all(this.groups.map((g) => g.sample()));
    const polled = this.groups.filter((g) => g.poll);
    const timer = polled.length
      ? setInterval(() => {
          for (const g of polled) Promise.resolve(g.sample()).catch(() => undefined);
        }, 250)
      : undefined;
    return async () => {
      if (timer) clearInterval(timer);
      const after = await Promise.all(this.groups.map((g) => g.sample()));
      const wall = (performance.now() - t0) / 1000;
      return this.groups.map((g, i) => {
        const cpu = Math.max(0, after[i] - before[i]);
        return { name: g.name, label: g.label, cpu_seconds: round(cpu, 3), cores: round(cpu / wall, 3) };
      });
    };
  }
}

export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
