import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import {
  CONFIG_KEYS as consumerKeys,
  loadConfig as loadConsumerConfig,
} from '../../consumer/src/config';
import {
  CONFIG_KEYS as producerKeys,
  DEVELOPMENT_JWT_SECRET,
  loadConfig as loadProducerConfig,
} from '../../producer/src/config';
import { tracingSettingsOf } from '../../platform/src/startup';
import { baseImagesOf } from '../../test-support/docker/stand-ins';
import {
  readEventsSettings,
  readTokenSettings,
  readWalkthroughSettings,
  SETTING_KEYS as toolKeys,
} from '../../tools/src/settings';

/**
 * No Docker engine runs the tests, so the compose files and the Dockerfiles are checked as text,
 * and `docker-compose config -q` validates each combination of compose files against the schema.
 */

const ROOT = path.resolve(__dirname, '../..');

function readRootFile(file: string): string {
  return readFileSync(path.join(ROOT, file), 'utf8');
}

type Environment = Record<string, string | number | boolean | null> | string[];

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string | string[];
  container_name?: string;
  depends_on?: Record<string, { condition?: string }> | string[];
  environment?: Environment;
  ports?: unknown[];
  volumes?: unknown[];
  restart?: string;
  healthcheck?: { test?: string | string[] };
  profiles?: string[];
  hostname?: string;
  scale?: number;
}

interface ComposeFile {
  services: Record<string, ComposeService>;
}

const composeText = readRootFile('docker-compose.yml');
const compose = parse(composeText) as ComposeFile;
const override = parse(readRootFile('docker-compose.override.yml')) as ComposeFile;
// Its nodes share one definition through a YAML merge key (`<<`), which compose expands too.
const cluster = parse(readRootFile('docker-compose.cluster.yml'), { merge: true }) as ComposeFile;

function service(name: string, file: ComposeFile = compose): ComposeService {
  const found = file.services[name];
  if (!found) throw new Error(`no service ${name}`);
  return found;
}

/**
 * Compose interpolation as a fresh clone sees it, with no .env and no variables set: `${VAR:-x}`
 * and `${VAR-x}` give x, `${VAR}` and `$VAR` give nothing, `$$` is a literal `$`. Any other form
 * (`${VAR:?...}`) would stop compose on a fresh clone, so it fails here too.
 */
function interpolateWithNoVariables(value: string): string {
  return interpolate(value, {});
}

/** The same with `variables` set (as a `.env` would set them). */
function interpolate(value: string, variables: Record<string, string>): string {
  return value.replace(
    /\$\$|\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced: string | undefined, bare: string | undefined) => {
      if (match === '$$') return '$';
      if (braced === undefined) return variables[bare ?? ''] ?? '';
      const expression = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)(.*))?$/s.exec(braced);
      if (!expression) throw new Error(`unsupported interpolation ${match}`);
      const [, name = '', operator, fallback = ''] = expression;
      const set = variables[name];
      if (set !== undefined && (set !== '' || operator !== ':-')) return set;
      return operator === undefined ? '' : fallback;
    },
  );
}

/** A service's image name on a fresh clone. */
function resolvedImage(name: string): string {
  return interpolateWithNoVariables(service(name).image ?? '');
}

/** A service's environment as its process receives it on a fresh clone. */
function resolvedEnvironment(name: string, file: ComposeFile = compose): Record<string, string> {
  const environment = service(name, file).environment ?? {};
  const entries = Array.isArray(environment)
    ? environment.map((line) => {
        const [key = '', ...rest] = line.split('=');
        return [key, rest.join('=')] as const;
      })
    : Object.entries(environment).map(([key, value]) => [key, value === null ? '' : String(value)]);
  return Object.fromEntries(
    entries.map(([key, value]) => [key, interpolateWithNoVariables(value)]),
  );
}

/** A service's published ports on a fresh clone, in the short `address:host:container` form. */
function resolvedPorts(name: string, file: ComposeFile = compose): string[] {
  return (service(name, file).ports ?? []).map((port) => {
    if (typeof port !== 'string') throw new Error(`${name}: write ports as quoted strings`);
    return interpolateWithNoVariables(port);
  });
}

/** Every string value in a parsed YAML document (comments are not values). */
function stringsIn(node: unknown): string[] {
  if (typeof node === 'string') return [node];
  if (Array.isArray(node)) return node.flatMap(stringsIn);
  if (node !== null && typeof node === 'object') return Object.values(node).flatMap(stringsIn);
  return [];
}

/** The processes the images run, each with the config it parses at start. */
const apps: {
  name: string;
  keys: string[];
  loadConfig: (env: Record<string, string>) => Readonly<Record<string, unknown>>;
}[] = [
  { name: 'producer', keys: producerKeys, loadConfig: loadProducerConfig },
  { name: 'consumer', keys: consumerKeys, loadConfig: loadConsumerConfig },
  // The migration is the consumer image running consumer/dist/migrate-main.js, on its config.
  { name: 'migrate', keys: consumerKeys, loadConfig: loadConsumerConfig },
];

const LOOPBACK_PORT = /^127\.0\.0\.1:\d+:\d+$/;

describe('docker-compose.yml', () => {
  it('runs the four services mysql, rabbitmq, consumer and producer, and the one-off migrate', () => {
    const started = Object.entries(compose.services).filter(([, found]) => !found.profiles);
    expect(started.map(([name]) => name).sort()).toEqual(
      ['consumer', 'migrate', 'mysql', 'producer', 'rabbitmq'].sort(),
    );
  });

  it('publishes the producer API on 127.0.0.1:5000 by default, and nothing else', () => {
    expect(resolvedPorts('producer')).toEqual(['127.0.0.1:5000:5000']);
    for (const name of ['mysql', 'rabbitmq', 'consumer', 'migrate', 'tools']) {
      expect({ name, ports: service(name).ports }).toEqual({ name, ports: undefined });
    }
  });

  it('lets API_BIND_ADDRESS and API_PORT choose where the API is published', () => {
    expect(service('producer').ports).toEqual([
      '${API_BIND_ADDRESS:-127.0.0.1}:${API_PORT:-5000}:5000',
    ]);
  });

  it.each(['mysql', 'rabbitmq', 'consumer', 'producer'])('gives %s a healthcheck', (name) => {
    expect(service(name).healthcheck?.test).toBeDefined();
  });

  it.each(['consumer', 'producer'])(
    'starts %s only once migrate has finished and mysql and rabbitmq report healthy',
    (name) => {
      expect(service(name).depends_on).toEqual({
        migrate: { condition: 'service_completed_successfully' },
        mysql: { condition: 'service_healthy' },
        rabbitmq: { condition: 'service_healthy' },
      });
    },
  );

  it('migrates with the consumer image once mysql is healthy, and does not restart', () => {
    const migrate = service('migrate');
    expect(migrate.build).toEqual(service('consumer').build);
    expect(migrate.command).toEqual(['node', 'consumer/dist/migrate-main.js']);
    expect(migrate.depends_on).toEqual({ mysql: { condition: 'service_healthy' } });
    expect(migrate.restart ?? 'no').toBe('no');
    expect(migrate.healthcheck).toBeUndefined();
  });

  it('applies the schema through migrate only: nothing is mounted into the mysql init directory', () => {
    const mounts = stringsIn(service('mysql').volumes ?? []);
    expect(mounts.filter((mount) => mount.includes('docker-entrypoint-initdb.d'))).toEqual([]);
    expect(mounts.filter((mount) => mount.includes('mysql-init'))).toEqual([]);
  });

  it.each(['consumer', 'producer'])(
    'lets %s scale, with no fixed container name and built from its target of the root Dockerfile',
    (name) => {
      expect(service(name).container_name).toBeUndefined();
      expect(service(name).build).toEqual({ context: '.', target: name });
      expect(resolvedImage(name)).toBe(`subscriptions-${name}:latest`);
    },
  );

  it("runs migrate on the consumer's image, one image under one name, built the same way", () => {
    expect(resolvedImage('migrate')).toBe(resolvedImage('consumer'));
    expect(service('migrate').build).toEqual(service('consumer').build);
  });

  it.each(apps)('gives $name only variables its config knows, and values it accepts', (app) => {
    const environment = resolvedEnvironment(app.name);
    expect(Object.keys(environment).filter((key) => !app.keys.includes(key))).toEqual([]);
    expect(() => app.loadConfig(environment)).not.toThrow();
  });

  it.each(apps.filter((app) => app.name !== 'migrate'))(
    'points every connection setting of $name at the mysql and rabbitmq services',
    (app) => {
      const environment = resolvedEnvironment(app.name);
      const connectionKeys = app.keys.filter(
        (key) => key.startsWith('MYSQL_') || key === 'AMQP_URL',
      );
      expect(Object.keys(environment)).toEqual(expect.arrayContaining(connectionKeys));

      const config = app.loadConfig(environment);
      expect(new URL(String(config.AMQP_URL)).hostname).toBe('rabbitmq');
      if ('MYSQL_HOST' in config) expect(config.MYSQL_HOST).toBe('mysql');
    },
  );

  it('points migrate at the mysql service and gives it nothing but the MySQL settings', () => {
    const environment = resolvedEnvironment('migrate');
    expect(Object.keys(environment).sort()).toEqual(
      consumerKeys.filter((key) => key.startsWith('MYSQL_')).sort(),
    );
    expect(environment.MYSQL_HOST).toBe('mysql');
  });

  it('has the producer listen on the port that is published', () => {
    expect(loadProducerConfig(resolvedEnvironment('producer')).PORT).toBe(5000);
  });

  it.each(apps.filter((app) => app.keys.includes('MYSQL_USER')))(
    'signs $name in to MySQL with the account and database the mysql service creates',
    (app) => {
      const mysql = resolvedEnvironment('mysql');
      const config = app.loadConfig(resolvedEnvironment(app.name));
      expect(config.MYSQL_USER).toBe(mysql.MYSQL_USER);
      expect(config.MYSQL_PASSWORD).toBe(mysql.MYSQL_PASSWORD);
      expect(config.MYSQL_DATABASE).toBe(mysql.MYSQL_DATABASE);
    },
  );

  it('keeps the MySQL root password inside the mysql service', () => {
    const root = resolvedEnvironment('mysql').MYSQL_ROOT_PASSWORD ?? '';
    expect(root).not.toBe('');
    for (const name of ['migrate', 'consumer', 'producer', 'tools']) {
      expect({ name, values: Object.values(resolvedEnvironment(name)) }).toEqual({
        name,
        values: expect.not.arrayContaining([root]),
      });
    }
  });

  it.each(['consumer', 'producer'])(
    'signs %s in to RabbitMQ with the account the rabbitmq service creates',
    (name) => {
      const rabbitmq = resolvedEnvironment('rabbitmq');
      const url = new URL(resolvedEnvironment(name).AMQP_URL ?? '');
      expect(decodeURIComponent(url.username)).toBe(rabbitmq.RABBITMQ_DEFAULT_USER);
      expect(decodeURIComponent(url.password)).toBe(rabbitmq.RABBITMQ_DEFAULT_PASS);
    },
  );

  it('signs tokens by default with the development secret the producer warns about', () => {
    expect(resolvedEnvironment('producer').AUTH_JWT_SECRET).toBe(DEVELOPMENT_JWT_SECRET);
  });
});

describe('the jaeger service of docker-compose.yml (profile tracing)', () => {
  const jaeger = service('jaeger');
  const TRACING = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318' };

  it('is left out of `up` and needs no build: a pinned Jaeger all-in-one with OTLP on', () => {
    expect(jaeger.profiles).toEqual(['tracing']);
    expect(jaeger.build).toBeUndefined();
    expect(resolvedImage('jaeger')).toMatch(/^jaegertracing\/all-in-one:\d+\.\d+\.\d+$/);
    expect(resolvedEnvironment('jaeger')).toEqual({ COLLECTOR_OTLP_ENABLED: 'true' });
  });

  it('publishes its UI on 127.0.0.1:16686, moved by JAEGER_UI_PUBLISHED_PORT', () => {
    expect(resolvedPorts('jaeger')).toEqual(['127.0.0.1:16686:16686']);
    expect(
      (jaeger.ports ?? []).map((port) =>
        interpolate(String(port), { JAEGER_UI_PUBLISHED_PORT: '26686' }),
      ),
    ).toEqual(['127.0.0.1:26686:16686']);
  });

  it.each(['consumer', 'producer'])(
    'leaves tracing off in %s by default, and points it at the OTLP/HTTP port of jaeger when asked',
    (name) => {
      const load = name === 'producer' ? loadProducerConfig : loadConsumerConfig;
      expect(tracingSettingsOf(load(resolvedEnvironment(name)))).toBeUndefined();
      const environment = Object.fromEntries(
        Object.entries(service(name).environment ?? {}).map(([key, value]) => [
          key,
          interpolate(String(value), TRACING),
        ]),
      );
      expect(tracingSettingsOf(load(environment))).toEqual({
        protocol: 'http/protobuf',
        endpoint: 'http://jaeger:4318/v1/traces',
      });
    },
  );

  it('is not a base image of the Docker test: a plain `up` never starts it, so it needs no stand-in', () => {
    const images = baseImagesOf(ROOT);
    expect(images).not.toContain(jaeger.image);
    expect(images.sort()).toEqual(
      ['mysql:8.4', 'node:24-bookworm-slim', 'rabbitmq:4.1-management'].sort(),
    );
  });
});

describe('the tools service of docker-compose.yml', () => {
  it('is left out of `up` (profile tools) and built from the target tools of the root Dockerfile', () => {
    const tools = service('tools');
    expect(tools.profiles).toEqual(['tools']);
    expect(tools.build).toEqual({ context: '.', target: 'tools' });
    expect(resolvedImage('tools')).toBe('subscriptions-tools:latest');
    expect(tools.restart ?? 'no').toBe('no');
  });

  it('gets only variables the tools read, with values both of them accept', () => {
    const environment = resolvedEnvironment('tools');
    expect(Object.keys(environment).filter((key) => !toolKeys.includes(key))).toEqual([]);
    expect(() => readTokenSettings(environment)).not.toThrow();
    expect(() => readWalkthroughSettings(environment)).not.toThrow();
    expect(() => readEventsSettings(environment)).not.toThrow();
  });

  it('listens for events on the broker the consumer publishes them to', () => {
    const { AMQP_URL } = readEventsSettings(resolvedEnvironment('tools'));
    expect(AMQP_URL).toBe(loadConsumerConfig(resolvedEnvironment('consumer')).AMQP_URL);
  });

  it('walks the lifecycle against the producer service, on the port the producer listens on', () => {
    const { BASE_URL } = readWalkthroughSettings(resolvedEnvironment('tools'));
    const url = new URL(BASE_URL);
    expect(url.hostname).toBe('producer');
    expect(Number(url.port)).toBe(loadProducerConfig(resolvedEnvironment('producer')).PORT);
  });

  it('signs with the secret, issuer and audience the producer checks', () => {
    const tools = readTokenSettings(resolvedEnvironment('tools'));
    const producer = loadProducerConfig(resolvedEnvironment('producer'));
    expect(tools.AUTH_JWT_SECRET).toBe(producer.AUTH_JWT_SECRET);
    expect(tools.AUTH_ISSUER).toBe(producer.AUTH_ISSUER);
    expect(tools.AUTH_AUDIENCE).toBe(producer.AUTH_AUDIENCE);
    // The same variable, so a secret set in .env reaches both.
    expect(service('tools').environment).toMatchObject({
      AUTH_JWT_SECRET: (service('producer').environment as Record<string, unknown>)[
        'AUTH_JWT_SECRET'
      ],
    });
  });
});

describe('docker-compose.override.yml', () => {
  it('adds published ports to mysql and rabbitmq, and changes nothing else', () => {
    expect(Object.keys(override.services).sort()).toEqual(['mysql', 'rabbitmq']);
    for (const [name, additions] of Object.entries(override.services)) {
      expect({ name, keys: Object.keys(additions) }).toEqual({ name, keys: ['ports'] });
    }
  });

  it('publishes MySQL on 3306 and RabbitMQ on 5672 and 15672 (management), on 127.0.0.1 only', () => {
    expect(resolvedPorts('mysql', override)).toEqual(['127.0.0.1:3306:3306']);
    expect(resolvedPorts('rabbitmq', override)).toEqual([
      '127.0.0.1:5672:5672',
      '127.0.0.1:15672:15672',
    ]);
    for (const name of Object.keys(override.services)) {
      for (const port of resolvedPorts(name, override)) expect(port).toMatch(LOOPBACK_PORT);
    }
  });

  it('moves each host port through its own variable, leaving the container ports alone', () => {
    const ports = (name: string) =>
      (service(name, override).ports ?? []).map((port) =>
        interpolate(String(port), {
          MYSQL_PUBLISHED_PORT: '13306',
          AMQP_PUBLISHED_PORT: '15673',
          MANAGEMENT_PUBLISHED_PORT: '25672',
        }),
      );
    expect(ports('mysql')).toEqual(['127.0.0.1:13306:3306']);
    expect(ports('rabbitmq')).toEqual(['127.0.0.1:15673:5672', '127.0.0.1:25672:15672']);
  });
});

const CLUSTER_NODES = ['rabbitmq-1', 'rabbitmq-2', 'rabbitmq-3'];
const CLUSTER_CONFIG = './deploy/rabbitmq-cluster/rabbitmq.conf';

/** The `${NAME...}` variables a value reads. */
function variablesIn(value: string): string[] {
  return [...value.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((match) => match[1] ?? '');
}

describe('docker-compose.cluster.yml', () => {
  it('adds the nodes rabbitmq-1..3 and changes only rabbitmq, consumer and producer', () => {
    expect(Object.keys(cluster.services).sort()).toEqual(
      ['consumer', 'producer', 'rabbitmq', ...CLUSTER_NODES].sort(),
    );
  });

  it('keeps the single rabbitmq service of the main file defined but runs none of it (scale 0)', () => {
    expect(service('rabbitmq', cluster)).toEqual({ scale: 0 });
  });

  it.each(CLUSTER_NODES)(
    'runs %s on the main file’s image, under a fixed host name, with its own data',
    (name) => {
      const node = service(name, cluster);
      expect(node.image).toBe(service('rabbitmq').image);
      expect(node.hostname).toBe(name);
      expect(node.healthcheck?.test).toEqual(service('rabbitmq').healthcheck?.test);
      expect(node.volumes).toEqual([
        `${name}-data:/var/lib/rabbitmq`,
        `${CLUSTER_CONFIG}:/etc/rabbitmq/conf.d/20-cluster.conf:ro`,
      ]);
      expect(node.ports).toBeUndefined();
    },
  );

  it('gives the three nodes one Erlang cookie, from RABBITMQ_ERLANG_COOKIE', () => {
    const cookies = CLUSTER_NODES.map(
      (name) =>
        (service(name, cluster).environment as Record<string, string>)['RABBITMQ_ERLANG_COOKIE'],
    );
    expect(new Set(cookies).size).toBe(1);
    expect(variablesIn(cookies[0] ?? '')).toEqual(['RABBITMQ_ERLANG_COOKIE']);
    expect(resolvedEnvironment('rabbitmq-1', cluster).RABBITMQ_ERLANG_COOKIE).not.toBe('');
  });

  it('creates on every node the account of the main file’s rabbitmq service', () => {
    for (const name of CLUSTER_NODES) {
      expect({ name, environment: resolvedEnvironment(name, cluster) }).toEqual({
        name,
        environment: expect.objectContaining(resolvedEnvironment('rabbitmq')),
      });
    }
  });

  it('mounts a rabbitmq.conf that lists the three nodes and pauses a minority on a split', () => {
    const settings = new Map(
      readRootFile(CLUSTER_CONFIG)
        .split('\n')
        .map((line) => /^([a-z_.0-9]+)\s*=\s*(.*?)\s*$/.exec(line))
        .filter((match): match is RegExpExecArray => match !== null)
        .map((match) => [match[1] ?? '', match[2] ?? ''] as const),
    );
    expect(settings.get('cluster_formation.peer_discovery_backend')).toBe('classic_config');
    const listed = [...settings]
      .filter(([key]) => key.startsWith('cluster_formation.classic_config.nodes.'))
      .map(([, node]) => node);
    expect(listed).toEqual(CLUSTER_NODES.map((name) => `rabbit@${name}`));
    expect(settings.get('cluster_partition_handling')).toBe('pause_minority');
  });

  it.each(['consumer', 'producer'])(
    'gives %s exactly the three nodes in AMQP_URL, with the account they create',
    (name) => {
      const urls = (resolvedEnvironment(name, cluster).AMQP_URL ?? '')
        .split(',')
        .map((url) => new URL(url.trim()));
      expect(urls.map((url) => `${url.protocol}//${url.host}`)).toEqual(
        CLUSTER_NODES.map((node) => `amqp://${node}:5672`),
      );
      const account = resolvedEnvironment('rabbitmq');
      for (const url of urls) {
        expect(decodeURIComponent(url.username)).toBe(account.RABBITMQ_DEFAULT_USER);
        expect(decodeURIComponent(url.password)).toBe(account.RABBITMQ_DEFAULT_PASS);
      }
      expect(Object.keys(service(name, cluster).environment ?? {})).toEqual(['AMQP_URL']);
    },
  );

  it.each(apps.filter((app) => app.name !== 'migrate'))(
    'gives $name, over the main file, an environment its config accepts',
    (app) => {
      const merged = {
        ...resolvedEnvironment(app.name),
        ...resolvedEnvironment(app.name, cluster),
      };
      expect(() => app.loadConfig(merged)).not.toThrow();
    },
  );

  it.each(['consumer', 'producer'])('starts %s once all three nodes report healthy', (name) => {
    expect(service(name, cluster).depends_on).toEqual(
      Object.fromEntries(CLUSTER_NODES.map((node) => [node, { condition: 'service_healthy' }])),
    );
  });

  it('reads no variable but those of the main file, and the Erlang cookie', () => {
    const main = new Set(stringsIn(compose).flatMap(variablesIn));
    const read = new Set(stringsIn(cluster).flatMap(variablesIn));
    expect([...read].filter((key) => !main.has(key))).toEqual(['RABBITMQ_ERLANG_COOKIE']);
  });
});

/** The docker-compose binary, when this machine has one. */
function findDockerCompose(): string | undefined {
  const probe = spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8' });
  return probe.error ? undefined : probe.stdout.trim();
}

const composeVersion = findDockerCompose();
// CI must really run the check: there a missing binary fails the test instead of skipping it.
const itWithCompose = composeVersion !== undefined || process.env['CI'] === 'true' ? it : it.skip;

describe('docker-compose config -q, as on a fresh clone (no .env, no variables set)', () => {
  itWithCompose.each([
    'docker-compose.yml',
    'docker-compose.yml + docker-compose.override.yml',
    'docker-compose.yml + docker-compose.cluster.yml',
  ])('accepts %s', (combination) => {
    const files = combination.split(' + ');
    if (composeVersion === undefined) {
      throw new Error(
        'docker-compose is not installed: `sudo apt-get install -y docker-compose` ' +
          '(scripts/ensure-services.sh does it as root)',
      );
    }
    const scratch = mkdtempSync(path.join(tmpdir(), 'compose-config-'));
    try {
      const emptyEnvFile = path.join(scratch, '.env');
      writeFileSync(emptyEnvFile, '');
      const result = spawnSync(
        'docker-compose',
        ['--env-file', emptyEnvFile, ...files.flatMap((file) => ['-f', file]), 'config', '-q'],
        { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } },
      );
      expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});

describe('.env.example', () => {
  const lines = readRootFile('.env.example').split('\n');
  const listed = new Map(
    lines
      .map((line) => /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => [match[1] ?? '', match[2] ?? ''] as const),
  );

  /** Commented out: the tracing variables, which turn tracing on as soon as one is set. */
  const commentedOut = new Set(
    lines
      .map((line) => /^# ([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
      .filter((key): key is string => key !== undefined),
  );

  it('lists every variable of the producer and consumer configs, tracing ones commented out', () => {
    const missing = [...new Set([...producerKeys, ...consumerKeys])].filter(
      (key) => !listed.has(key) && !commentedOut.has(key),
    );
    expect(missing).toEqual([]);
    expect([...commentedOut].filter((key) => !key.startsWith('OTEL_'))).toEqual([]);
    expect([...listed.keys()].filter((key) => key.startsWith('OTEL_'))).toEqual([]);
  });

  it('lists every variable the compose files read', () => {
    const read = [compose, override, cluster].flatMap((file) =>
      stringsIn(file).flatMap((value) =>
        [...value.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((match) => match[1] ?? ''),
      ),
    );
    expect(read).toEqual(expect.arrayContaining(['API_BIND_ADDRESS', 'API_PORT']));
    expect(read.filter((key) => !listed.has(key) && !commentedOut.has(key))).toEqual([]);
  });

  it('ships the development secret the producer warns about', () => {
    expect(listed.get('AUTH_JWT_SECRET')).toBe(DEVELOPMENT_JWT_SECRET);
  });
});

interface PackageManifest {
  name: string;
  workspaces?: string[];
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

function readManifest(directory: string): PackageManifest {
  return JSON.parse(readRootFile(path.join(directory, 'package.json'))) as PackageManifest;
}

const workspaces = readManifest('.').workspaces ?? [];
const workspaceDirectories = new Map(workspaces.map((dir) => [readManifest(dir).name, dir]));

/** The workspaces a process needs at run time: its own and every @subscriptions/* it depends on. */
function runtimeWorkspaces(directory: string): string[] {
  const found = new Set<string>([directory]);
  for (const current of found) {
    for (const dependency of Object.keys(readManifest(current).dependencies ?? {})) {
      const dependencyDirectory = workspaceDirectories.get(dependency);
      if (dependencyDirectory) found.add(dependencyDirectory);
    }
  }
  return [...found].sort();
}

/** Packages a workspace's source loads at run time (type-only imports are erased). */
function packagesImportedBy(directory: string): string[] {
  const sources = readdirSync(path.join(ROOT, directory, 'src'), { recursive: true })
    .map(String)
    .filter((file) => file.endsWith('.ts'))
    .map((file) => readRootFile(path.join(directory, 'src', file)));
  const specifiers = sources.flatMap((source) => [
    ...[...source.matchAll(/^\s*(?:import|export)\s+(type\s+)?([^'";]*?)\s*from\s+'([^']+)'/gm)]
      .filter(([, typeOnly, clause = '']) => !typeOnly && !isTypeOnlyClause(clause))
      .map((match) => match[3] ?? ''),
    ...[...source.matchAll(/^\s*import\s+'([^']+)'/gm)].map((match) => match[1] ?? ''),
    ...[...source.matchAll(/\brequire(?:\.resolve)?\('([^']+)'\)/g)].map((match) => match[1] ?? ''),
  ]);
  const packages = specifiers
    .filter((specifier) => !specifier.startsWith('.') && !specifier.startsWith('node:'))
    .map((specifier) => /^(?:@[^/]+\/)?[^/]+/.exec(specifier)?.[0] ?? specifier);
  return [...new Set(packages)].sort();
}

function isTypeOnlyClause(clause: string): boolean {
  const members = /^\{([^}]*)\}$/s.exec(clause.trim())?.[1];
  if (members === undefined) return false;
  const names = members
    .split(',')
    .map((member) => member.trim())
    .filter(Boolean);
  return names.length > 0 && names.every((name) => name.startsWith('type '));
}

/** The root Dockerfile's stages by name, each with its base and its lines. */
const dockerfile = readRootFile('Dockerfile');
const stages = new Map(
  dockerfile
    .split(/^(?=FROM\s)/im)
    .filter((text) => /^FROM\s/i.test(text))
    .map((text) => {
      const [, base = '', name = ''] = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(text) ?? [];
      return [name, { base, text }] as const;
    }),
);

function stage(name: string): { base: string; text: string } {
  const found = stages.get(name);
  if (!found) throw new Error(`the Dockerfile has no stage ${name}`);
  return found;
}

/** A target's stage and every stage it is built on, the target first. */
function stageChain(target: string): string[] {
  const chain = [target];
  for (let base = stage(target).base; stages.has(base); base = stage(base).base) chain.push(base);
  return chain;
}

/** Each image and how it starts: the services with a command, the tools with an entry point. */
const images = [
  { name: 'producer', start: 'CMD' },
  { name: 'consumer', start: 'CMD' },
  { name: 'tools', start: 'ENTRYPOINT' },
];

describe('Dockerfile', () => {
  it('builds every stage on Node 24, the major version .nvmrc names', () => {
    expect(readRootFile('.nvmrc').trim().replace(/^v/, '').split('.')[0]).toBe('24');
    const external = [...stages.values()]
      .map(({ base }) => base)
      .filter((base) => !stages.has(base));
    expect(external.length).toBeGreaterThanOrEqual(2);
    for (const base of external) expect(base).toMatch(/^node:24-bookworm-slim(?:@|$)/);
  });

  it('compiles every workspace in one build stage, from every manifest npm ci checks', () => {
    const build = stage('build').text;
    for (const workspace of workspaces) {
      const copies = build
        .split('\n')
        .filter((line) => line.trim() === `COPY ${workspace}/package.json ${workspace}/`);
      expect({ workspace, copies: copies.length }).toEqual({ workspace, copies: 1 });
    }
    for (const { name } of images)
      expect(build).toMatch(new RegExp(`^RUN npx tsc -b .*\\b${name}\\b`, 'm'));
  });

  it('compiles with the TypeScript and types the repository pins: each image workspace declares them alike', () => {
    const root = readManifest('.').devDependencies ?? {};
    for (const { name } of images) {
      const buildTools = readManifest(name).devDependencies ?? {};
      expect({ name, typescript: buildTools['typescript'] }).toEqual({
        name,
        typescript: root['typescript'],
      });
      for (const [tool, version] of Object.entries(buildTools)) {
        expect({ name, tool, version }).toEqual({ name, tool, version: root[tool] });
      }
    }
  });

  it('gives every image the manifests of all workspaces, as npm ci checks them against the lockfile', () => {
    const runtime = stage('runtime').text;
    for (const workspace of workspaces) {
      expect(runtime).toContain(`COPY --from=build /app/${workspace}/package.json ${workspace}/`);
    }
  });
});

describe.each(images)('the Dockerfile target $name', ({ name, start }) => {
  const chain = stageChain(name);
  const text = chain.map((stageName) => stage(stageName).text).join('\n');

  it('is built on the shared runtime stage', () => {
    expect(chain).toEqual([name, 'runtime']);
  });

  it('runs as the unprivileged node user', () => {
    expect(stage(name).text).toMatch(/^USER node\s*$/m);
  });

  it(`starts ${name}/dist/main.js`, () => {
    expect(stage(name).text).toContain(`${start} ["node", "${name}/dist/main.js"]`);
  });

  it('installs the production dependencies of its own workspace only', () => {
    expect(stage(name).text).toMatch(
      new RegExp(`^RUN npm ci --omit=dev .*--workspace ${name}\\b`, 'm'),
    );
  });

  it(`ships the built code of every workspace ${name} needs at run time`, () => {
    for (const workspace of runtimeWorkspaces(name)) {
      expect(stage('build').text).toContain(`COPY ${workspace}/ ${workspace}/`);
      expect(text).toContain(`COPY --from=build /app/${workspace}/dist ${workspace}/dist`);
    }
  });

  it(`declares every package ${name} loads, since the image installs only those`, () => {
    for (const workspace of runtimeWorkspaces(name)) {
      const declared = Object.keys(readManifest(workspace).dependencies ?? {});
      const undeclared = packagesImportedBy(workspace).filter((pkg) => !declared.includes(pkg));
      expect({ workspace, undeclared }).toEqual({ workspace, undeclared: [] });
    }
  });
});

describe('the Dockerfile target consumer', () => {
  it('ships mysql-init/ where the migration reads it, /app/mysql-init', () => {
    expect(stage('runtime').text).toMatch(/^WORKDIR \/app$/m);
    expect(stage('consumer').text).toMatch(/^COPY mysql-init\/ mysql-init\/$/m);
  });
});
