import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, configLeaves, envName, envTable, loadConfig } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'nexus-config-'));
let n = 0;
function yamlFile(text: string): string {
  const file = join(dir, `config-${n++}.yaml`);
  writeFileSync(file, text);
  return file;
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function get(obj: unknown, path: string): unknown {
  return path.split('.').reduce((o: any, k) => o?.[k], obj);
}

describe('loadConfig', () => {
  it('gives the documented defaults with no file and no env', () => {
    const c = loadConfig({ env: {} });
    expect(c.nexus.port).toBe(8080);
    expect(c.nexus.metricsPort).toBe(4004);
    expect(c.athena.port).toBe(4084);
    expect(c.nexus.dataDir).toBe('./data');
    expect(c.nexus.redis).toMatchObject({ enabled: true, nodes: '', useCluster: false, enableTls: false });
    expect(c.nexus.redis.tlsRejectUnauthorized).toBe(true);
    expect(c.athena.server.apiPrefix).toBe('/athena/v1,/nexus/v3');
  });

  it('reads the YAML file shaped like the Helm values', () => {
    const file = yamlFile(`
nexus:
  fqdn: "http://digital.example.com"
  redis:
    nodes: "redis://r1:6379,redis://r2:6379"
    useCluster: true
    enableTls: false
    password: pw
  db:
    host: pg.example.com
    port: 6543
    enableSSL: true
athena:
  redis:
    cluster: true
    tls: true
`);
    const c = loadConfig({ file, env: {} });
    expect(c.nexus.fqdn).toBe('http://digital.example.com');
    expect(c.nexus.redis).toMatchObject({
      nodes: 'redis://r1:6379,redis://r2:6379',
      useCluster: true,
      password: 'pw',
    });
    expect(c.nexus.db).toMatchObject({ host: 'pg.example.com', port: 6543, enableSSL: true });
    expect(c.athena.redis).toMatchObject({ cluster: true, tls: true });
  });

  it('takes the file from NEXUS_CONFIG', () => {
    const file = yamlFile('nexus:\n  port: 9001\n');
    expect(loadConfig({ env: { NEXUS_CONFIG: file } }).nexus.port).toBe(9001);
  });

  it('lets the env form override the file', () => {
    const file = yamlFile(
      'nexus:\n  port: 9001\n  redis:\n    nodes: redis://from-file:6379\n    useCluster: true\n',
    );
    const c = loadConfig({
      file,
      env: {
        NEXUS_PORT: '9002',
        NEXUS_REDIS_NODES: 'redis://from-env:6379',
        NEXUS_REDIS_USE_CLUSTER: 'false',
      },
    });
    expect(c.nexus.port).toBe(9002);
    expect(c.nexus.redis.nodes).toBe('redis://from-env:6379');
    expect(c.nexus.redis.useCluster).toBe(false);
  });

  it('lets explicit overrides win over file and env', () => {
    const file = yamlFile('nexus:\n  port: 9001\n');
    expect(
      loadConfig({ file, env: { NEXUS_PORT: '9002' }, overrides: { nexus: { port: 9003 } } }).nexus.port,
    ).toBe(9003);
  });

  it('treats an empty YAML key as not set, as the guide’s values.yaml leaves some', () => {
    const file = yamlFile('nexus:\n  db:\n    host: ""\n    port:\n    user: ""\n');
    const c = loadConfig({ file, env: {} });
    expect(c.nexus.db.port).toBe(5432);
    expect(c.nexus.db.user).toBe('');
  });

  const documented: Array<[string, string, string, unknown]> = [
    ['NEXUS_PORT', '0', 'nexus.port', 0],
    ['NEXUS_METRICS_PORT', '9464', 'nexus.metricsPort', 9464],
    ['ATHENA_PORT', '4085', 'athena.port', 4085],
    ['NEXUS_ADMIN_TOKEN', 'tok-123', 'nexus.adminToken', 'tok-123'],
    ['NEXUS_DATA_DIR', '/var/lib/nexus', 'nexus.dataDir', '/var/lib/nexus'],
    ['NEXUS_REDIS_NODES', 'redis://a:1,redis://b:2', 'nexus.redis.nodes', 'redis://a:1,redis://b:2'],
    ['NEXUS_REDIS_USE_CLUSTER', 'true', 'nexus.redis.useCluster', true],
    ['NEXUS_REDIS_ENABLE_TLS', 'yes', 'nexus.redis.enableTls', true],
    ['NEXUS_REDIS_PASSWORD', 'pw', 'nexus.redis.password', 'pw'],
    ['NEXUS_REDIS_TLS_REJECT_UNAUTHORIZED', 'false', 'nexus.redis.tlsRejectUnauthorized', false],
    ['NEXUS_DB_HOST', 'pg.local', 'nexus.db.host', 'pg.local'],
    ['NEXUS_DB_PORT', '5433', 'nexus.db.port', 5433],
    ['NEXUS_DB_USER', 'u', 'nexus.db.user', 'u'],
    ['NEXUS_DB_PASSWORD', 'p', 'nexus.db.password', 'p'],
    ['NEXUS_DB_ENABLE_SSL', '1', 'nexus.db.enableSSL', true],
    ['NEXUS_FQDN', 'https://nexus.example.com', 'nexus.fqdn', 'https://nexus.example.com'],
    ['NEXUS_LOG_LEVEL', 'debug', 'nexus.logLevel', 'debug'],
    ['ATHENA_SERVER_API_PREFIX', '/a/v1', 'athena.server.apiPrefix', '/a/v1'],
    ['ATHENA_NEXUS_URL', 'http://nexus:8080', 'athena.nexus.url', 'http://nexus:8080'],
    ['ATHENA_NEXUS_API_KEY', 'k', 'athena.nexus.apiKey', 'k'],
    ['ATHENA_NEXUS_TIMEOUT', '2500', 'athena.nexus.timeout', 2500],
    ['ATHENA_REDIS_CLUSTER', 'on', 'athena.redis.cluster', true],
    ['ATHENA_DB_SSL', 'true', 'athena.db.ssl', true],
    ['ATHENA_GOOGLE_SPEECH_API_KEY', 'g', 'athena.google.speechApiKey', 'g'],
  ];

  it.each(documented)('%s=%s sets %s', (env, raw, key, value) => {
    expect(get(loadConfig({ env: { [env]: raw } }), key)).toEqual(value);
  });

  it('every leaf key has an env form, and setting it reaches that key', () => {
    const leaves = configLeaves();
    expect(leaves.length).toBeGreaterThan(30);
    for (const leaf of leaves) {
      expect(leaf.env).toBe(envName(leaf.path));
      const sample =
        leaf.kind === 'boolean'
          ? ['true', true]
          : leaf.kind === 'number'
            ? ['5000', 5000]
            : ['sample', 'sample'];
      if (leaf.kind === 'enum') continue; // enums are covered by NEXUS_LOG_LEVEL above
      let c: unknown;
      try {
        c = loadConfig({ env: { [leaf.env]: sample[0] as string } });
      } catch (err) {
        // A number with a narrower range (a port) may refuse 5000; it must say which key.
        expect((err as Error).message).toContain(leaf.path.join('.'));
        continue;
      }
      expect(get(c, leaf.path.join('.')), leaf.env).toEqual(sample[1]);
    }
  });

  it('envTable lists every key with its env form and default', () => {
    const rows = envTable();
    expect(rows.find((r) => r.key === 'nexus.redis.useCluster')).toEqual({
      env: 'NEXUS_REDIS_USE_CLUSTER',
      key: 'nexus.redis.useCluster',
      default: false,
    });
    expect(rows.find((r) => r.key === 'nexus.db.enableSSL')?.env).toBe('NEXUS_DB_ENABLE_SSL');
  });

  describe('bad values throw a ConfigError naming the key', () => {
    const cases: Array<[string, () => unknown, RegExp]> = [
      [
        'a port that is not a number',
        () => loadConfig({ env: { NEXUS_PORT: 'abc' } }),
        /NEXUS_PORT \(nexus\.port\)/,
      ],
      ['a hex port', () => loadConfig({ env: { NEXUS_PORT: '0x1F90' } }), /nexus\.port/],
      [
        'a port out of range',
        () => loadConfig({ env: { NEXUS_PORT: '70000' } }),
        /nexus\.port \[env NEXUS_PORT\]/,
      ],
      ['a fractional port', () => loadConfig({ env: { ATHENA_PORT: '80.5' } }), /athena\.port/],
      [
        'a boolean that is not one',
        () => loadConfig({ env: { NEXUS_REDIS_USE_CLUSTER: 'maybe' } }),
        /NEXUS_REDIS_USE_CLUSTER \(nexus\.redis\.useCluster\)/,
      ],
      ['an unknown log level', () => loadConfig({ env: { NEXUS_LOG_LEVEL: 'loud' } }), /nexus\.logLevel/],
      [
        'an unknown key in YAML',
        () => loadConfig({ file: yamlFile('nexus:\n  redis:\n    nodez: x\n'), env: {} }),
        /nexus\.redis\.nodez: unknown key/,
      ],
      [
        'an unknown section in YAML',
        () => loadConfig({ file: yamlFile('nexuss:\n  port: 1\n'), env: {} }),
        /nexuss/,
      ],
      [
        'a wrong type in YAML',
        () => loadConfig({ file: yamlFile('nexus:\n  redis:\n    useCluster: "sure"\n'), env: {} }),
        /nexus\.redis\.useCluster/,
      ],
      [
        'an OIDC issuer without an audience',
        () => loadConfig({ env: { NEXUS_AUTH_OIDC_ISSUER: 'https://idp.example.com' } }),
        /nexus\.auth\.oidc\.audience \[env NEXUS_AUTH_OIDC_AUDIENCE\]: is required when nexus\.auth\.oidc\.issuer is set/,
      ],
      [
        'YAML that is not a mapping',
        () => loadConfig({ file: yamlFile('- a\n- b\n'), env: {} }),
        /must be a mapping/,
      ],
      [
        'YAML that does not parse',
        () => loadConfig({ file: yamlFile('nexus: [\n'), env: {} }),
        /not valid YAML/,
      ],
      [
        'a file that is missing',
        () => loadConfig({ file: join(dir, 'missing.yaml'), env: {} }),
        /cannot read the config file/,
      ],
    ];
    it.each(cases)('%s', (_name, load, message) => {
      expect(load).toThrow(ConfigError);
      expect(load).toThrow(message);
    });

    it('reports every problem at once', () => {
      const file = yamlFile('nexus:\n  port: -1\n  bogus: 1\nathena:\n  port: "x"\n');
      const message = (() => {
        try {
          loadConfig({ file, env: {} });
          return '';
        } catch (err) {
          return (err as Error).message;
        }
      })();
      for (const key of [
        'nexus.port [env NEXUS_PORT]',
        'nexus.bogus: unknown key',
        'athena.port [env ATHENA_PORT]',
      ]) {
        expect(message).toContain(key);
      }
    });
  });

  it('returns a deeply frozen result', () => {
    const c = loadConfig({ env: {} });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.nexus)).toBe(true);
    expect(Object.isFrozen(c.nexus.redis)).toBe(true);
    expect(() => {
      (c.nexus as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(c.nexus.port).toBe(8080);
  });
});
