/**
 * Replays the project's Dockerfile without a Docker engine (none runs on the machines the suites
 * run on): each stage is a directory standing for the image's root, the build context is the
 * repository filtered by .dockerignore, and the instructions are carried out in order: `WORKDIR`,
 * `ENV`, `COPY` (from the context or `--from` an earlier stage), `RUN`, `USER` and `CMD`.
 *
 * A `RUN` is a chain of `&&` steps. `npm` steps run for real in the stage's working directory.
 * `mkdir -p` and `chown` are applied to the stage's directory. `groupadd`/`useradd` are not run
 * (they would change this machine's users); their ids are checked against `USER` instead. Any other
 * command makes the replay fail, so that a Dockerfile change the replay cannot follow is noticed.
 *
 * What this proves: the build stage builds from what the context holds, the runtime stage has every
 * file and production dependency the entry points need, and they run as 500:500 from a tree that
 * user cannot write to, except `data`. What it cannot prove: anything about the base image.
 */
import { execFile } from 'node:child_process';
import { chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface Stage {
  name: string;
  /** The directory standing for the stage's `/`. */
  root: string;
  workdir: string;
  env: Record<string, string>;
  user?: { uid: number; gid: number };
  cmd?: string[];
  healthcheck?: string[];
  /** `groupadd`/`useradd` ids the Dockerfile declares. */
  declaredIds: { gid?: number; uid?: number };
  log: string[];
}

interface Instruction {
  op: string;
  args: string;
}

export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (!pending && (line.trim() === '' || line.trim().startsWith('#'))) continue;
    if (pending && line.trim().startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\w+)\s+([\s\S]*)$/.exec(full);
    if (!m) throw new Error(`cannot parse Dockerfile line: ${full}`);
    out.push({ op: m[1].toUpperCase(), args: m[2].trim() });
  }
  return out;
}

/** The context's top-level entries .dockerignore lets in (its patterns here are names and `*.ext`). */
export function contextEntries(repo: string): string[] {
  const patterns = readFileSync(join(repo, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const p of patterns) {
    if (p.includes('/') || p.startsWith('!') || (p.includes('*') && !/^\*\.[\w.]+$/.test(p)))
      throw new Error(`.dockerignore pattern the replay does not follow: ${p}`);
  }
  const ignored = (name: string) =>
    patterns.some((p) => (p.startsWith('*.') ? name.endsWith(p.slice(1)) : name === p));
  return readdirSync(repo).filter((n) => !ignored(n));
}

function expand(s: string, vars: Record<string, string>): string {
  return s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => vars[a ?? b] ?? '');
}

function jsonArray(s: string, what: string): string[] {
  const v = JSON.parse(s) as unknown;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new Error(`${what} must be exec form`);
  return v;
}

function inStage(stage: Stage, p: string): string {
  const abs = p.startsWith('/') ? p : join(stage.workdir, p);
  return join(stage.root, abs);
}

async function runStep(stage: Stage, step: string): Promise<void> {
  const words = step.trim().split(/\s+/);
  const [cmd, ...rest] = words;
  const cwd = inStage(stage, '.');
  if (cmd === 'npm') {
    stage.log.push(`npm ${rest.join(' ')}`);
    // The same npm the suites run with; the cache the machine's own `npm ci` filled is reused.
    await exec('npm', rest, {
      cwd,
      env: {
        ...process.env,
        ...stage.env,
        npm_config_prefer_offline: 'true',
        npm_config_update_notifier: 'false',
      },
      maxBuffer: 64 * 1024 * 1024,
    });
  } else if (cmd === 'mkdir' && rest[0] === '-p') {
    for (const d of rest.slice(1)) mkdirSync(inStage(stage, d), { recursive: true });
  } else if (cmd === 'chown') {
    const [ids, ...paths] = rest;
    const [uid, gid] = ids.split(':').map(Number);
    for (const p of paths) chownSync(inStage(stage, p), uid, gid);
  } else if (cmd === 'groupadd') {
    stage.declaredIds.gid = Number(rest[rest.indexOf('--gid') + 1]);
  } else if (cmd === 'useradd') {
    stage.declaredIds.uid = Number(rest[rest.indexOf('--uid') + 1]);
  } else {
    throw new Error(`the Dockerfile replay does not know how to run: ${step}`);
  }
}

/** Carries out the Dockerfile of `repo`; returns its stages by name, the last one under `final`. */
export async function replayDockerfile(repo: string): Promise<Map<string, Stage>> {
  const stages = new Map<string, Stage>();
  const args: Record<string, string> = {};
  const context = contextEntries(repo);
  let stage: Stage | undefined;
  for (const { op, args: a } of parseDockerfile(readFileSync(join(repo, 'Dockerfile'), 'utf8'))) {
    if (op === 'ARG') {
      const [k, v = ''] = a.split('=');
      args[k] = v;
      continue;
    }
    if (op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(a);
      if (!m) throw new Error(`FROM: ${a}`);
      const root = mkdtempSync(join(tmpdir(), 'nexus-image-'));
      stage = {
        name: m[2] ?? `stage${stages.size}`,
        root,
        workdir: '/',
        env: {},
        declaredIds: {},
        log: [`FROM ${expand(m[1], args)}`],
      };
      stages.set(stage.name, stage);
      continue;
    }
    if (!stage) throw new Error(`${op} before FROM`);
    const s = stage;
    switch (op) {
      case 'WORKDIR':
        s.workdir = a;
        mkdirSync(inStage(s, '.'), { recursive: true });
        break;
      case 'ENV': {
        const m = /^(\w+)[=\s](.*)$/.exec(a);
        if (!m) throw new Error(`ENV: ${a}`);
        s.env[m[1]] = m[2];
        break;
      }
      case 'COPY': {
        const words = a.split(/\s+/);
        const from = words[0].startsWith('--from=') ? words.shift()!.slice('--from='.length) : undefined;
        const dest = words.pop()!;
        for (const src of words) {
          if (from) {
            const other = stages.get(from);
            if (!other) throw new Error(`COPY --from=${from}: no such stage`);
            const p = inStage(other, src);
            if (!existsSync(p)) throw new Error(`COPY --from=${from} ${src}: not in that stage`);
            cpSync(p, inStage(s, dest), { recursive: true });
          } else if (src === '.') {
            for (const e of context) cpSync(join(repo, e), join(inStage(s, dest), e), { recursive: true });
          } else {
            if (!context.includes(src.split('/')[0]))
              throw new Error(`COPY ${src}: not in the build context`);
            const target = dest.endsWith('/') ? join(inStage(s, dest), src) : inStage(s, dest);
            cpSync(join(repo, src), target, { recursive: true });
          }
        }
        break;
      }
      case 'RUN':
        for (const step of a.split('&&')) await runStep(s, step);
        break;
      case 'USER': {
        const [uid, gid] = a.split(':').map(Number);
        s.user = { uid, gid };
        break;
      }
      case 'CMD':
        s.cmd = jsonArray(a, 'CMD');
        break;
      case 'HEALTHCHECK': {
        const i = a.indexOf('CMD ');
        s.healthcheck = jsonArray(a.slice(i + 4), 'HEALTHCHECK CMD');
        break;
      }
      case 'EXPOSE':
        break;
      default:
        throw new Error(`the Dockerfile replay does not know ${op}`);
    }
  }
  if (stage) stages.set('final', stage);
  return stages;
}

/** Where in the stage a path of the image is. */
export function imagePath(stage: Stage, p: string): string {
  return inStage(stage, p);
}

export function relativeToRoot(stage: Stage, p: string): string {
  return `/${relative(stage.root, p)}`;
}
