/**
 * A small renderer for our Helm charts, so the chart test can render them without a `helm` binary
 * (there is none in Debian). It implements the subset of Go text/template and of the Sprig/Helm
 * functions our templates use, with Go's semantics where they matter: whitespace trim markers,
 * variable scoping, `range`/`with`/`if` with `else`, `define`/`include`/`template`, error on a field
 * of nil, int/float distinction (values are float64 and print like Go's %v), sorted map keys.
 * Anything outside the subset (an unknown function, an unknown keyword) is an error, never a guess.
 *
 * CLI: `npx tsx scripts/charts-render.ts charts/nexus [-f values.yaml] [--set a.b=c]` prints the manifests.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { parse as parseYaml, parseAllDocuments, stringify as stringifyYaml } from 'yaml';

type Value = unknown;
type Dict = Record<string, Value>;

export class TemplateError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'TemplateError';
  }
}

// ---------------------------------------------------------------- lexing and parsing

type Tok =
  | { t: 'str'; v: string }
  | { t: 'num'; v: Value }
  | { t: 'bool'; v: boolean }
  | { t: 'nil' }
  | { t: 'field'; chain: string[]; adjacent: boolean }
  | { t: 'var'; name: string; chain: string[] }
  | { t: 'ident'; v: string }
  | { t: 'op'; v: '|' | '(' | ')' | ':=' | '=' | ',' };

type Operand =
  | { k: 'lit'; v: Value }
  | { k: 'field'; chain: string[] }
  | { k: 'var'; name: string; chain: string[] }
  | { k: 'fn'; name: string }
  | { k: 'pipe'; pipe: Pipe; chain: string[] };

interface Pipe {
  decl?: { names: string[]; op: ':=' | '=' };
  cmds: Operand[][];
}

type Node =
  | { n: 'text'; v: string }
  | { n: 'out'; pipe: Pipe; at: string }
  | { n: 'if'; branches: Array<{ pipe: Pipe; body: Node[] }>; otherwise?: Node[]; at: string }
  | { n: 'range'; pipe: Pipe; body: Node[]; otherwise?: Node[]; at: string }
  | { n: 'with'; branches: Array<{ pipe: Pipe; body: Node[] }>; otherwise?: Node[]; at: string }
  | { n: 'template'; name: string; pipe?: Pipe; at: string };

const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r';

function tokenize(src: string, at: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const fieldChain = (): string[] => {
    const chain: string[] = [];
    while (src[i] === '.' && /[A-Za-z_]/.test(src[i + 1] ?? '')) {
      i++;
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      chain.push(m[0]);
      i += m[0].length;
    }
    return chain;
  };
  while (i < src.length) {
    const c = src[i];
    if (isSpace(c)) {
      i++;
      continue;
    }
    const adjacent = i > 0 && src[i - 1] === ')';
    if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw new TemplateError(at, 'unterminated quoted string');
      out.push({ t: 'str', v: JSON.parse(src.slice(i, j + 1)) as string });
      i = j + 1;
    } else if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw new TemplateError(at, 'unterminated raw string');
      out.push({ t: 'str', v: src.slice(i + 1, j) });
      i = j + 1;
    } else if (c === '|' || c === '(' || c === ')' || c === ',') {
      out.push({ t: 'op', v: c });
      i++;
    } else if (c === ':' && src[i + 1] === '=') {
      out.push({ t: 'op', v: ':=' });
      i += 2;
    } else if (c === '=') {
      out.push({ t: 'op', v: '=' });
      i++;
    } else if (c === '$') {
      const m = /^\$[A-Za-z0-9_]*/.exec(src.slice(i))!;
      i += m[0].length;
      out.push({ t: 'var', name: m[0], chain: fieldChain() });
    } else if (c === '.') {
      if (/[A-Za-z_]/.test(src[i + 1] ?? '')) out.push({ t: 'field', chain: fieldChain(), adjacent });
      else {
        i++;
        out.push({ t: 'field', chain: [], adjacent: false });
      }
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(src.slice(i));
      if (!m) throw new TemplateError(at, `bad number near "${src.slice(i, i + 10)}"`);
      out.push({ t: 'num', v: m[1] || m[2] ? Number(m[0]) : BigInt(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      i += m[0].length;
      if (m[0] === 'true' || m[0] === 'false') out.push({ t: 'bool', v: m[0] === 'true' });
      else if (m[0] === 'nil') out.push({ t: 'nil' });
      else out.push({ t: 'ident', v: m[0] });
    } else {
      throw new TemplateError(at, `unexpected "${c}" in action`);
    }
  }
  return out;
}

function parsePipe(toks: Tok[], at: string, allowDecl: boolean): Pipe {
  let pos = 0;
  const pipe: Pipe = { cmds: [] };
  if (allowDecl) {
    // `$a :=`, `$a =`, or `$k, $v :=` (range).
    const names: string[] = [];
    let p = 0;
    while (toks[p]?.t === 'var' && (toks[p] as any).chain.length === 0) {
      names.push((toks[p] as any).name);
      p++;
      if (toks[p]?.t === 'op' && (toks[p] as any).v === ',') p++;
      else break;
    }
    const op = toks[p];
    if (names.length && op?.t === 'op' && (op.v === ':=' || op.v === '=')) {
      pipe.decl = { names, op: op.v };
      pos = p + 1;
    }
  }
  const parseOperands = (stopAtParen: boolean): Pipe => {
    const inner: Pipe = { cmds: [] };
    let cmd: Operand[] = [];
    for (;;) {
      const t = toks[pos];
      if (!t || (stopAtParen && t.t === 'op' && t.v === ')')) break;
      pos++;
      if (t.t === 'op' && t.v === '|') {
        if (!cmd.length) throw new TemplateError(at, 'missing command before |');
        inner.cmds.push(cmd);
        cmd = [];
      } else if (t.t === 'op' && t.v === '(') {
        const sub = parseOperands(true);
        if (toks[pos]?.t !== 'op' || (toks[pos] as any).v !== ')') throw new TemplateError(at, 'unclosed (');
        pos++;
        const next = toks[pos];
        let chain: string[] = [];
        if (next?.t === 'field' && next.adjacent) {
          chain = next.chain;
          pos++;
        }
        cmd.push({ k: 'pipe', pipe: sub, chain });
      } else if (t.t === 'str' || t.t === 'num' || t.t === 'bool') cmd.push({ k: 'lit', v: t.v });
      else if (t.t === 'nil') cmd.push({ k: 'lit', v: null });
      else if (t.t === 'field') cmd.push({ k: 'field', chain: t.chain });
      else if (t.t === 'var') cmd.push({ k: 'var', name: t.name, chain: t.chain });
      else if (t.t === 'ident') {
        if (!Object.hasOwn(FUNCS, t.v)) throw new TemplateError(at, `function "${t.v}" not defined`);
        cmd.push({ k: 'fn', name: t.v });
      } else throw new TemplateError(at, `unexpected "${(t as any).v}"`);
    }
    if (cmd.length) inner.cmds.push(cmd);
    if (!inner.cmds.length) throw new TemplateError(at, 'empty pipeline');
    return inner;
  };
  const body = parseOperands(false);
  if (pos < toks.length) throw new TemplateError(at, 'unexpected ) in pipeline');
  pipe.cmds = body.cmds;
  return pipe;
}

interface Parsed {
  nodes: Node[];
  defines: Map<string, Node[]>;
}

/** Parses one template file; `define` blocks are returned separately (they are global in Helm). */
export function parseTemplate(text: string, file: string): Parsed {
  // Split into text and actions, applying the trim markers.
  type Piece = { text: string } | { action: string; at: string };
  const pieces: Piece[] = [];
  let i = 0;
  let trimNext = false;
  const lineAt = (pos: number) => `${file}:${text.slice(0, pos).split('\n').length}`;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    let chunk = open < 0 ? text.slice(i) : text.slice(i, open);
    if (trimNext) chunk = chunk.replace(/^[ \t\r\n]+/, '');
    trimNext = false;
    if (open < 0) {
      pieces.push({ text: chunk });
      break;
    }
    let start = open + 2;
    if (text[start] === '-' && isSpace(text[start + 1])) {
      chunk = chunk.replace(/[ \t\r\n]+$/, '');
      start += 2;
    }
    pieces.push({ text: chunk });
    let close: number;
    let inner: string;
    const rest = text.slice(start).replace(/^[ \t\r\n]*/, '');
    if (rest.startsWith('/*')) {
      const endComment = text.indexOf('*/', start);
      if (endComment < 0) throw new TemplateError(lineAt(open), 'unclosed comment');
      close = text.indexOf('}}', endComment);
      inner = '';
      if (!/^[ \t\r\n]*-?[ \t\r\n]*$/.test(text.slice(endComment + 2, close))) {
        throw new TemplateError(lineAt(open), 'comment ends before closing delimiter');
      }
    } else {
      // Find the closing delimiter outside of string literals.
      let j = start;
      let quote: string | null = null;
      for (; j < text.length; j++) {
        const c = text[j];
        if (quote) {
          if (c === '\\' && quote === '"') j++;
          else if (c === quote) quote = null;
        } else if (c === '"' || c === '`') quote = c;
        else if (c === '}' && text[j + 1] === '}') break;
      }
      if (j >= text.length) throw new TemplateError(lineAt(open), 'unclosed action');
      close = j;
      inner = text.slice(start, close);
    }
    if (text[close - 1] === '-' && isSpace(text[close - 2])) {
      trimNext = true;
      if (inner) inner = inner.slice(0, inner.length - 1);
    }
    if (inner.trim()) pieces.push({ action: inner.trim(), at: lineAt(open) });
    i = close + 2;
  }

  const defines = new Map<string, Node[]>();
  let p = 0;
  // Parses nodes until one of the given keywords; returns the keyword action that stopped it.
  const parseList = (stops: string[]): { nodes: Node[]; stop?: { kw: string; rest: string; at: string } } => {
    const nodes: Node[] = [];
    while (p < pieces.length) {
      const piece = pieces[p++];
      if ('text' in piece) {
        if (piece.text) nodes.push({ n: 'text', v: piece.text });
        continue;
      }
      const m = /^([A-Za-z_]+)\b\s*([\s\S]*)$/.exec(piece.action);
      const kw = m?.[1] ?? '';
      const rest = m?.[2] ?? '';
      if (stops.includes(kw)) return { nodes, stop: { kw, rest, at: piece.at } };
      if (kw === 'if' || kw === 'with') {
        const branches: Array<{ pipe: Pipe; body: Node[] }> = [];
        let pipe = parsePipe(tokenize(rest, piece.at), piece.at, kw === 'with');
        let otherwise: Node[] | undefined;
        for (;;) {
          const r = parseList(['else', 'end']);
          if (!r.stop) throw new TemplateError(piece.at, `unclosed ${kw}`);
          branches.push({ pipe, body: r.nodes });
          if (r.stop.kw === 'end') break;
          const chained = new RegExp(`^${kw}\\b\\s*([\\s\\S]*)$`).exec(r.stop.rest);
          if (chained) {
            pipe = parsePipe(tokenize(chained[1], r.stop.at), r.stop.at, kw === 'with');
            continue;
          }
          if (r.stop.rest.trim())
            throw new TemplateError(r.stop.at, `unexpected "${r.stop.rest}" after else`);
          const last = parseList(['end']);
          if (!last.stop) throw new TemplateError(piece.at, `unclosed ${kw}`);
          otherwise = last.nodes;
          break;
        }
        nodes.push({ n: kw as 'if' | 'with', branches, otherwise, at: piece.at });
      } else if (kw === 'range') {
        const pipe = parsePipe(tokenize(rest, piece.at), piece.at, true);
        const r = parseList(['else', 'end']);
        if (!r.stop) throw new TemplateError(piece.at, 'unclosed range');
        let otherwise: Node[] | undefined;
        if (r.stop.kw === 'else') {
          const last = parseList(['end']);
          if (!last.stop) throw new TemplateError(piece.at, 'unclosed range');
          otherwise = last.nodes;
        }
        nodes.push({ n: 'range', pipe, body: r.nodes, otherwise, at: piece.at });
      } else if (kw === 'define') {
        const name = tokenize(rest, piece.at)[0];
        if (name?.t !== 'str') throw new TemplateError(piece.at, 'define needs a quoted name');
        const r = parseList(['end']);
        if (!r.stop) throw new TemplateError(piece.at, 'unclosed define');
        defines.set(name.v, r.nodes);
      } else if (kw === 'template') {
        const toks = tokenize(rest, piece.at);
        const name = toks.shift();
        if (name?.t !== 'str') throw new TemplateError(piece.at, 'template needs a quoted name');
        nodes.push({
          n: 'template',
          name: name.v,
          pipe: toks.length ? parsePipe(toks, piece.at, false) : undefined,
          at: piece.at,
        });
      } else if (['else', 'end', 'block', 'break', 'continue'].includes(kw)) {
        throw new TemplateError(piece.at, `unexpected {{${kw}}}`);
      } else {
        nodes.push({
          n: 'out',
          pipe: parsePipe(tokenize(piece.action, piece.at), piece.at, true),
          at: piece.at,
        });
      }
    }
    return { nodes };
  };
  const top = parseList([]);
  return { nodes: top.nodes, defines };
}

// ---------------------------------------------------------------- values, Go-like

const isMap = (v: Value): v is Dict => typeof v === 'object' && v !== null && !Array.isArray(v);

function truthy(v: Value): boolean {
  if (v === null || v === undefined || v === false || v === '' || v === 0 || v === 0n) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}

/** Go's %v of a float64 (strconv 'g', shortest): exponent form below 1e-4 and from 1e6 up, so 1048576 prints 1.048576e+06. */
function goFloat(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const exp = Number(n.toExponential().split('e')[1]);
  if (exp < -4 || exp >= 6) {
    const [mant, e] = n.toExponential().split('e');
    const ev = Number(e);
    return `${mant}e${ev < 0 ? '-' : '+'}${String(Math.abs(ev)).padStart(2, '0')}`;
  }
  return String(n);
}

function goString(v: Value): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return goFloat(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (isMap(v)) {
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${goString(v[k])}`)
      .join(' ')}]`;
  }
  return String(v);
}

function kindOf(v: Value): string {
  if (v === null || v === undefined) return 'invalid';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'number') return 'float64';
  if (Array.isArray(v)) return 'slice';
  if (typeof v === 'function') return 'func';
  return 'map';
}

/** Plain JSON-able data: ints become numbers, maps get sorted keys (as Go's encoders write them). */
function plain(v: Value): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  if (isMap(v)) {
    const o: Dict = {};
    for (const k of Object.keys(v).sort()) o[k] = plain(v[k]);
    return o;
  }
  return v === undefined ? null : v;
}

function toInt(v: Value): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (typeof v === 'string') {
    const n = Number(v);
    return v.trim() === '' || !Number.isFinite(n) ? 0n : BigInt(Math.trunc(n));
  }
  return 0n;
}

function compare(a: Value, b: Value, at: string): number {
  const ka = kindOf(a);
  const kb = kindOf(b);
  if (ka !== kb) throw new TemplateError(at, `incompatible types for comparison (${ka} and ${kb})`);
  if (typeof a === 'string' || typeof a === 'number' || typeof a === 'bigint') {
    return a < (b as typeof a) ? -1 : a > (b as typeof a) ? 1 : 0;
  }
  throw new TemplateError(at, `invalid type for comparison (${ka})`);
}

function eq(a: Value, b: Value, at: string): boolean {
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true;
  if (a === null || a === undefined || b === null || b === undefined) {
    throw new TemplateError(at, 'incompatible types for comparison (nil)');
  }
  const ka = kindOf(a);
  if (ka === 'map' || ka === 'slice') throw new TemplateError(at, `non-comparable type ${ka}`);
  if (ka !== kindOf(b))
    throw new TemplateError(at, `incompatible types for comparison (${ka} and ${kindOf(b)})`);
  return a === b;
}

function printf(at: string, format: string, args: Value[]): string {
  let n = 0;
  return format.replace(/%([%sdvq])/g, (_m, verb: string) => {
    if (verb === '%') return '%';
    if (n >= args.length) return `%!${verb}(MISSING)`;
    const a = args[n++];
    if (verb === 'd') {
      if (typeof a !== 'bigint') throw new TemplateError(at, `printf %d of a ${kindOf(a)}`);
      return a.toString();
    }
    if (verb === 'q') return JSON.stringify(goString(a));
    return goString(a);
  });
}

function indent(n: Value, s: Value): string {
  const pad = ' '.repeat(Number(toInt(n)));
  return pad + goString(s).replace(/\n/g, `\n${pad}`);
}

function toYaml(v: Value): string {
  if (v === null || v === undefined) return 'null';
  // sigs.k8s.io/yaml: JSON first (sorted keys), then YAML; Helm trims the final newline.
  const text = stringifyYaml(plain(v), { indentSeq: false, lineWidth: 0 });
  return text.replace(/\n$/, '');
}

function toJson(v: Value): string {
  return JSON.stringify(plain(v)).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

type Fn = (ctx: EvalContext, args: Value[]) => Value;

/** Functions; `and`/`or` are special-cased (Go evaluates their arguments lazily). */
const FUNCS: Record<string, Fn | null> = {
  and: null,
  or: null,
  not: (_c, [v]) => !truthy(v),
  len: (c, [v]) => {
    if (typeof v === 'string' || Array.isArray(v)) return BigInt(v.length);
    if (isMap(v)) return BigInt(Object.keys(v).length);
    throw new TemplateError(c.at, `len of ${kindOf(v)}`);
  },
  index: (c, [v, ...keys]) => {
    let o = v;
    for (const k of keys) {
      if (Array.isArray(o)) o = o[Number(toInt(k))];
      else if (isMap(o)) o = o[goString(k)];
      else throw new TemplateError(c.at, `index of ${kindOf(o)}`);
    }
    return o;
  },
  print: (_c, args) =>
    args
      .map(
        (a, i) =>
          (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string' ? ' ' : '') + goString(a),
      )
      .join(''),
  printf: (c, [f, ...args]) => printf(c.at, goString(f), args),
  eq: (c, [a, ...bs]) => bs.some((b) => eq(a, b, c.at)),
  ne: (c, [a, b]) => !eq(a, b, c.at),
  lt: (c, [a, b]) => compare(a, b, c.at) < 0,
  le: (c, [a, b]) => compare(a, b, c.at) <= 0,
  gt: (c, [a, b]) => compare(a, b, c.at) > 0,
  ge: (c, [a, b]) => compare(a, b, c.at) >= 0,
  default: (_c, args) => (args.length > 1 && truthy(args[1]) ? args[1] : args[0]),
  empty: (_c, [v]) => !truthy(v),
  coalesce: (_c, args) => args.find(truthy) ?? null,
  ternary: (_c, [a, b, cond]) => (cond === true ? a : b),
  required: (c, [msg, v]) => {
    if (v === null || v === undefined || v === '') throw new TemplateError(c.at, goString(msg));
    return v;
  },
  fail: (c, [msg]) => {
    throw new TemplateError(c.at, goString(msg));
  },
  quote: (_c, args) =>
    args
      .filter((a) => a !== null && a !== undefined)
      .map((a) => JSON.stringify(goString(a)))
      .join(' '),
  squote: (_c, args) =>
    args
      .filter((a) => a !== null && a !== undefined)
      .map((a) => `'${goString(a)}'`)
      .join(' '),
  toString: (_c: EvalContext, [v]: Value[]) => goString(v),
  int: (_c, [v]) => toInt(v),
  int64: (_c, [v]) => toInt(v),
  lower: (_c, [s]) => goString(s).toLowerCase(),
  upper: (_c, [s]) => goString(s).toUpperCase(),
  trim: (_c, [s]) => goString(s).trim(),
  trimSuffix: (_c, [suf, s]) => {
    const str = goString(s);
    const x = goString(suf);
    return x && str.endsWith(x) ? str.slice(0, -x.length) : str;
  },
  trimPrefix: (_c, [pre, s]) => {
    const str = goString(s);
    const x = goString(pre);
    return x && str.startsWith(x) ? str.slice(x.length) : str;
  },
  trunc: (_c, [n, s]) => {
    const str = goString(s);
    const k = Number(toInt(n));
    return k >= 0 ? str.slice(0, k) : str.slice(Math.max(0, str.length + k));
  },
  replace: (_c, [o, n, s]) => goString(s).split(goString(o)).join(goString(n)),
  contains: (_c, [sub, s]) => goString(s).includes(goString(sub)),
  hasPrefix: (_c, [pre, s]) => goString(s).startsWith(goString(pre)),
  hasSuffix: (_c, [suf, s]) => goString(s).endsWith(goString(suf)),
  indent: (_c, [n, s]) => indent(n, s),
  nindent: (_c, [n, s]) => `\n${indent(n, s)}`,
  join: (_c, [sep, l]) => (Array.isArray(l) ? l.map(goString).join(goString(sep)) : goString(l)),
  splitList: (_c, [sep, s]) => goString(s).split(goString(sep)),
  base: (_c, [p]) => basename(goString(p)),
  list: (_c, args) => [...args],
  append: (c, [l, v]) => {
    if (!Array.isArray(l)) throw new TemplateError(c.at, `append to ${kindOf(l)}`);
    return [...l, v];
  },
  concat: (c, lists) =>
    lists.flatMap((l) => {
      if (l === null || l === undefined) return [];
      if (!Array.isArray(l)) throw new TemplateError(c.at, `concat of ${kindOf(l)}`);
      return l;
    }),
  dict: (_c, args) => {
    const o: Dict = {};
    for (let i = 0; i < args.length; i += 2) o[goString(args[i])] = args[i + 1] ?? '';
    return o;
  },
  get: (c, [m, k]) => {
    if (!isMap(m)) throw new TemplateError(c.at, `get on ${kindOf(m)}`);
    return goString(k) in m ? m[goString(k)] : '';
  },
  set: (c, [m, k, v]) => {
    if (!isMap(m)) throw new TemplateError(c.at, `set on ${kindOf(m)}`);
    m[goString(k)] = v;
    return m;
  },
  unset: (c, [m, k]) => {
    if (!isMap(m)) throw new TemplateError(c.at, `unset on ${kindOf(m)}`);
    delete m[goString(k)];
    return m;
  },
  hasKey: (c, [m, k]) => {
    if (!isMap(m)) throw new TemplateError(c.at, `hasKey on ${kindOf(m)}`);
    return goString(k) in m;
  },
  keys: (_c, maps) => maps.flatMap((m) => (isMap(m) ? Object.keys(m) : [])),
  kindIs: (_c, [k, v]) => goString(k) === kindOf(v),
  deepCopy: (_c, [v]) => structuredClone(v),
  sha256sum: (_c, [s]) => createHash('sha256').update(goString(s)).digest('hex'),
  b64enc: (_c, [s]) => Buffer.from(goString(s), 'utf8').toString('base64'),
  b64dec: (_c, [s]) => Buffer.from(goString(s), 'base64').toString('utf8'),
  randAlphaNum: (_c, [n]) =>
    Array.from(randomBytes(Number(toInt(n))), (b) => ALNUM[b % ALNUM.length]).join(''),
  randBytes: (_c, [n]) => randomBytes(Number(toInt(n))).toString('base64'),
  toYaml: (_c, [v]) => toYaml(v),
  toJson: (_c, [v]) => toJson(v),
  include: (c, [name, data]) => c.renderer.include(goString(name), data, c.at),
  lookup: (c, [apiVersion, kind, ns, name]) =>
    c.renderer.lookup(goString(apiVersion), goString(kind), goString(ns), goString(name)) ?? {},
};

// ---------------------------------------------------------------- evaluation

interface EvalContext {
  renderer: Renderer;
  at: string;
}

type Scope = Array<Map<string, Value>>;

class Renderer {
  readonly defines = new Map<string, Node[]>();
  private depth = 0;

  constructor(
    private readonly root: Dict,
    private readonly lookupFn: (
      apiVersion: string,
      kind: string,
      ns: string,
      name: string,
    ) => Dict | undefined,
  ) {}

  lookup(apiVersion: string, kind: string, ns: string, name: string): Dict | undefined {
    return this.lookupFn(apiVersion, kind, ns, name);
  }

  include(name: string, data: Value, at: string): string {
    const body = this.defines.get(name);
    if (!body) throw new TemplateError(at, `no template "${name}"`);
    if (++this.depth > 100) throw new TemplateError(at, `include "${name}" recurses too deep`);
    try {
      return this.run(body, data, [new Map([['$', data]])]);
    } finally {
      this.depth--;
    }
  }

  /** Renders nodes with `dot`; root `$` is the data passed to this template. */
  run(nodes: Node[], dot: Value, scope: Scope): string {
    let out = '';
    for (const node of nodes) {
      switch (node.n) {
        case 'text':
          out += node.v;
          break;
        case 'out': {
          const v = this.pipe(node.pipe, dot, scope, node.at);
          if (!node.pipe.decl) out += v === null || v === undefined ? '' : goString(v);
          break;
        }
        case 'if':
        case 'with': {
          let done = false;
          for (const b of node.branches) {
            const inner: Scope = [...scope, new Map()];
            const v = this.pipe(b.pipe, dot, inner, node.at);
            if (truthy(v)) {
              out += this.run(b.body, node.n === 'with' ? v : dot, inner);
              done = true;
              break;
            }
          }
          if (!done && node.otherwise) out += this.run(node.otherwise, dot, [...scope, new Map()]);
          break;
        }
        case 'range': {
          const decl = node.pipe.decl;
          const v = this.pipe({ cmds: node.pipe.cmds }, dot, scope, node.at);
          let entries: Array<[Value, Value]>;
          if (Array.isArray(v)) entries = v.map((x, i) => [BigInt(i), x]);
          else if (isMap(v))
            entries = Object.keys(v)
              .sort()
              .map((k) => [k, v[k]]);
          else if (typeof v === 'bigint')
            entries = Array.from({ length: Number(v) }, (_x, i) => [BigInt(i), BigInt(i)]);
          else if (v === null || v === undefined) entries = [];
          else throw new TemplateError(node.at, `range can't iterate over ${goString(v)}`);
          if (!entries.length) {
            if (node.otherwise) out += this.run(node.otherwise, dot, [...scope, new Map()]);
            break;
          }
          for (const [k, x] of entries) {
            const frame = new Map<string, Value>();
            if (decl?.names.length === 1) frame.set(decl.names[0], x);
            else if (decl?.names.length === 2) {
              frame.set(decl.names[0], k);
              frame.set(decl.names[1], x);
            }
            out += this.run(node.body, x, [...scope, frame]);
          }
          break;
        }
        case 'template': {
          const data = node.pipe ? this.pipe(node.pipe, dot, scope, node.at) : null;
          out += this.include(node.name, data, node.at);
          break;
        }
      }
    }
    return out;
  }

  private variable(name: string, scope: Scope, at: string): Value {
    for (let i = scope.length - 1; i >= 0; i--) if (scope[i].has(name)) return scope[i].get(name);
    throw new TemplateError(at, `undefined variable "${name}"`);
  }

  private field(base: Value, chain: string[], at: string, what: string, args: Value[] = []): Value {
    let v = base;
    let self: Value;
    for (const [i, f] of chain.entries()) {
      if (v === null || v === undefined)
        throw new TemplateError(at, `nil pointer evaluating interface {}.${f}`);
      if (!isMap(v)) throw new TemplateError(at, `can't evaluate field ${f} in type ${kindOf(v)} (${what})`);
      self = v;
      v = v[f];
      if (typeof v === 'function') {
        // A method (.Files.Get): called with the command's arguments when last in the chain.
        const fn = v as (...a: Value[]) => Value;
        v = i === chain.length - 1 ? fn.apply(self, args) : fn.apply(self, []);
        args = [];
      }
    }
    if (args.length) throw new TemplateError(at, `${what} is not a method but has arguments`);
    return v;
  }

  private operand(o: Operand, dot: Value, scope: Scope, at: string, args: Value[] = []): Value {
    switch (o.k) {
      case 'lit':
        return o.v;
      case 'field':
        return this.field(dot, o.chain, at, `.${o.chain.join('.')}`, args);
      case 'var':
        return this.field(
          this.variable(o.name, scope, at),
          o.chain,
          at,
          o.name + o.chain.map((c) => `.${c}`).join(''),
          args,
        );
      case 'pipe':
        return this.field(
          this.pipe(o.pipe, dot, scope, at),
          o.chain,
          at,
          `(...)${o.chain.map((c) => `.${c}`).join('')}`,
          args,
        );
      case 'fn':
        return this.call(o.name, [], dot, scope, at);
    }
  }

  private call(
    name: string,
    argOps: Operand[],
    dot: Value,
    scope: Scope,
    at: string,
    piped?: { v: Value },
  ): Value {
    if (name === 'and' || name === 'or') {
      const thunks: Array<() => Value> = argOps.map((a) => () => this.operand(a, dot, scope, at));
      if (piped) thunks.push(() => piped.v);
      if (!thunks.length) throw new TemplateError(at, `${name} needs arguments`);
      let v: Value;
      for (const t of thunks) {
        v = t();
        if (name === 'and' ? !truthy(v) : truthy(v)) return v;
      }
      return v;
    }
    const fn = Object.hasOwn(FUNCS, name) ? FUNCS[name] : undefined;
    if (!fn) throw new TemplateError(at, `function "${name}" not defined`);
    const args = argOps.map((a) => this.operand(a, dot, scope, at));
    if (piped) args.push(piped.v);
    return fn({ renderer: this, at }, args);
  }

  pipe(pipe: Pipe, dot: Value, scope: Scope, at: string): Value {
    let piped: { v: Value } | undefined;
    for (const cmd of pipe.cmds) {
      const [head, ...rest] = cmd;
      let v: Value;
      if (head.k === 'fn') v = this.call(head.name, rest, dot, scope, at, piped);
      else if (rest.length || piped) {
        // Only a method takes arguments: `.Files.Get $path`.
        const args = rest.map((a) => this.operand(a, dot, scope, at));
        if (piped) args.push(piped.v);
        v = this.operand(head, dot, scope, at, args);
      } else v = this.operand(head, dot, scope, at);
      piped = { v };
    }
    const v = piped?.v;
    if (pipe.decl) {
      const [name] = pipe.decl.names;
      if (pipe.decl.op === ':=') scope[scope.length - 1].set(name, v);
      else {
        let i = scope.length - 1;
        while (i >= 0 && !scope[i].has(name)) i--;
        if (i < 0) throw new TemplateError(at, `undefined variable "${name}"`);
        scope[i].set(name, v);
      }
    }
    return v;
  }
}

// ---------------------------------------------------------------- charts

export interface RenderOptions {
  /** Values merged over the chart's values.yaml (Helm's -f); a null deletes a default. */
  values?: Dict;
  release?: { name?: string; namespace?: string; revision?: number; isUpgrade?: boolean };
  /** Answers `lookup` (the live cluster); absent objects are `{}` as with `helm template`. */
  lookup?: (apiVersion: string, kind: string, namespace: string, name: string) => Dict | undefined;
}

export interface Rendered {
  /** Rendered text per template path (`nexus/templates/deployment.yaml`), including NOTES.txt. */
  files: Map<string, string>;
  /** Every non-empty YAML document of the manifests, parsed. */
  docs: Array<{ source: string; doc: any }>;
  values: Dict;
}

export function mergeValues(base: Value, over: Value): Value {
  if (!isMap(base) || !isMap(over)) return over === undefined ? base : over;
  const out: Dict = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else out[k] = mergeValues(base[k], v);
  }
  return out;
}

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
}

/** Helm's numbers come from JSON: every value number is a float64. */
function asFloats(v: Value): Value {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(asFloats);
  if (isMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, asFloats(x)]));
  return v;
}

export function renderChart(chartDir: string, opts: RenderOptions = {}): Rendered {
  const chart = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Dict;
  const chartName = goString(chart.name);
  const defaults = (parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Dict) ?? {};
  const values = asFloats(mergeValues(defaults, structuredClone(opts.values ?? {}))) as Dict;
  const files = walk(chartDir).map((p) => relative(chartDir, p));
  const fileText = (p: string) => readFileSync(join(chartDir, p), 'utf8');
  const globToRe = (g: string) =>
    new RegExp(
      `^${g
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*/g, '\0')
        .replace(/\*/g, '[^/]*')
        .replace(/\0/g, '.*')}$`,
    );
  const root: Dict = {
    Values: values,
    Release: {
      Name: opts.release?.name ?? 'nexus',
      Namespace: opts.release?.namespace ?? 'default',
      Service: 'Helm',
      Revision: BigInt(opts.release?.revision ?? 1),
      IsInstall: !opts.release?.isUpgrade,
      IsUpgrade: !!opts.release?.isUpgrade,
    },
    Chart: Object.fromEntries(Object.entries(chart).map(([k, v]) => [k[0].toUpperCase() + k.slice(1), v])),
    Capabilities: { KubeVersion: { Version: 'v1.29.0', Major: '1', Minor: '29' } },
    Files: {
      Get: (p: Value) => {
        const path = goString(p);
        return files.includes(path) ? fileText(path) : '';
      },
      Glob: (g: Value) => {
        const re = globToRe(goString(g));
        return Object.fromEntries(files.filter((f) => re.test(f)).map((f) => [f, fileText(f)]));
      },
    },
  };
  const renderer = new Renderer(root, opts.lookup ?? (() => undefined));
  const templates = files.filter((f) => f.startsWith('templates/') && /\.(ya?ml|tpl|txt)$/.test(f));
  const parsed = templates.map((f) => {
    const name = `${chartName}/${f}`;
    const p = parseTemplate(fileText(f), name);
    for (const [k, v] of p.defines) renderer.defines.set(k, v);
    // Each file is also a named template (Helm's include of `$.Template.BasePath "/x.yaml"`).
    renderer.defines.set(name, p.nodes);
    return { name, file: f, nodes: p.nodes };
  });
  const out = new Map<string, string>();
  const docs: Array<{ source: string; doc: any }> = [];
  for (const t of parsed) {
    if (basename(t.file).startsWith('_')) continue;
    const data = { ...root, Template: { Name: t.name, BasePath: `${chartName}/templates` } };
    // Each template file's include of another file sees the same .Template as Helm gives it.
    const text = renderer.run(t.nodes, data, [new Map([['$', data]])]);
    out.set(t.name, text);
    if (t.file.endsWith('NOTES.txt')) continue;
    for (const d of parseAllDocuments(text)) {
      if (d.errors.length)
        throw new TemplateError(t.name, `rendered YAML does not parse: ${d.errors[0].message}`);
      const doc = d.toJS();
      if (doc !== null && doc !== undefined) docs.push({ source: t.name, doc });
    }
  }
  return { files: out, docs, values };
}

// ---------------------------------------------------------------- CLI

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const args = process.argv.slice(2);
  const chartDir = args.shift();
  if (!chartDir) {
    process.stderr.write('usage: charts-render <chart dir> [-f values.yaml]... [--set a.b=c]...\n');
    process.exit(2);
  }
  let values: Dict = {};
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-f') values = mergeValues(values, parseYaml(readFileSync(args[++i], 'utf8'))) as Dict;
    else if (args[i] === '--set') {
      const [key, ...raw] = args[++i].split('=');
      const over: Dict = {};
      let o = over;
      const path = key.split('.');
      for (const p of path.slice(0, -1)) o = o[p] = {} as Dict;
      o[path[path.length - 1]] = parseYaml(raw.join('='));
      values = mergeValues(values, over) as Dict;
    }
  }
  try {
    const r = renderChart(chartDir, { values });
    for (const [name, text] of r.files)
      if (text.trim() && !name.endsWith('NOTES.txt'))
        process.stdout.write(`---\n# Source: ${name}\n${text.trim()}\n`);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
}
