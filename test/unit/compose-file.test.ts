import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import {
  CONFIG_KEYS as consumerKeys,
  loadConfig as loadConsumerConfig,
} from '../../consumer/src/config';
import {
  CONFIG_KEYS as producerKeys,
  loadConfig as loadProducerConfig,
} from '../../producer/src/config';

/** No Docker engine runs the tests, so the compose file and the Dockerfiles are checked as text. */

const ROOT = path.resolve(__dirname, '../..');

function readRootFile(file: string): string {
  return readFileSync(path.join(ROOT, file), 'utf8');
}

type Environment = Record<string, string | number | boolean | null> | string[];

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  container_name?: string;
  depends_on?: Record<string, { condition?: string }> | string[];
  environment?: Environment;
  ports?: (string | number)[];
  healthcheck?: { test?: string | string[] };
}

interface ComposeFile {
  services: Record<string, ComposeService>;
}

const composeText = readRootFile('docker-compose.yml');
const compose = parse(composeText) as ComposeFile;

function service(name: string): ComposeService {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}

/**
 * Compose interpolation as a fresh clone sees it, with no .env and no variables set: `${VAR:-x}`
 * and `${VAR-x}` give x, `${VAR}` and `$VAR` give nothing, `$$` is a literal `$`. Any other form
 * (`${VAR:?...}`) would stop compose on a fresh clone, so it fails here too.
 */
function interpolateWithNoVariables(value: string): string {
  return value.replace(
    /\$\$|\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced: string | undefined) => {
      if (match === '$$') return '$';
      if (braced === undefined) return '';
      const expression = /^[A-Za-z_][A-Za-z0-9_]*(?:(:?-)(.*))?$/s.exec(braced);
      if (!expression) throw new Error(`unsupported interpolation ${match}`);
      return expression[1] === undefined ? '' : (expression[2] ?? '');
    },
  );
}

/** A service's environment as its process receives it on a fresh clone. */
function resolvedEnvironment(name: string): Record<string, string> {
  const environment = service(name).environment ?? {};
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

/** Every string value in a parsed YAML document (comments are not values). */
function stringsIn(node: unknown): string[] {
  if (typeof node === 'string') return [node];
  if (Array.isArray(node)) return node.flatMap(stringsIn);
  if (node !== null && typeof node === 'object') return Object.values(node).flatMap(stringsIn);
  return [];
}

/** The two processes the images run, each with the config it parses at start. */
const apps: {
  name: string;
  keys: string[];
  loadConfig: (env: Record<string, string>) => Readonly<Record<string, unknown>>;
}[] = [
  { name: 'producer', keys: producerKeys, loadConfig: loadProducerConfig },
  { name: 'consumer', keys: consumerKeys, loadConfig: loadConsumerConfig },
];

function finalStage(dockerfile: string): string {
  const stages = dockerfile.split(/^(?=FROM\s)/im);
  return stages[stages.length - 1] ?? '';
}

describe('docker-compose.yml', () => {
  it('runs exactly the four services mysql, rabbitmq, consumer and producer', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['consumer', 'mysql', 'producer', 'rabbitmq'].sort(),
    );
  });

  it('publishes the producer API on host port 5000', () => {
    expect(service('producer').ports?.map(String)).toContain('5000:5000');
  });

  it.each(['mysql', 'rabbitmq', 'consumer', 'producer'])('gives %s a healthcheck', (name) => {
    expect(service(name).healthcheck?.test).toBeDefined();
  });

  it.each(['consumer', 'producer'])(
    'starts %s only once mysql and rabbitmq report healthy',
    (name) => {
      expect(service(name).depends_on).toEqual({
        mysql: { condition: 'service_healthy' },
        rabbitmq: { condition: 'service_healthy' },
      });
    },
  );

  it.each(['consumer', 'producer'])(
    'lets %s scale, with no fixed container name and built from the repository root',
    (name) => {
      expect(service(name).container_name).toBeUndefined();
      expect(service(name).build).toEqual({ context: '.', dockerfile: `${name}/Dockerfile` });
    },
  );

  it.each(apps)('gives $name only variables its config knows, and values it accepts', (app) => {
    const environment = resolvedEnvironment(app.name);
    expect(Object.keys(environment).filter((key) => !app.keys.includes(key))).toEqual([]);
    expect(() => app.loadConfig(environment)).not.toThrow();
  });

  it.each(apps)(
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

  it.each(['consumer', 'producer'])(
    'signs %s in to RabbitMQ with the account the rabbitmq service creates',
    (name) => {
      const rabbitmq = resolvedEnvironment('rabbitmq');
      const url = new URL(resolvedEnvironment(name).AMQP_URL ?? '');
      expect(decodeURIComponent(url.username)).toBe(rabbitmq.RABBITMQ_DEFAULT_USER);
      expect(decodeURIComponent(url.password)).toBe(rabbitmq.RABBITMQ_DEFAULT_PASS);
    },
  );
});

describe('.env.example', () => {
  const listed = new Set(
    readRootFile('.env.example')
      .split('\n')
      .map((line) => /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
      .filter((key): key is string => key !== undefined),
  );

  it('lists every variable of the producer and consumer configs', () => {
    const missing = [...new Set([...producerKeys, ...consumerKeys])].filter(
      (key) => !listed.has(key),
    );
    expect(missing).toEqual([]);
  });

  it('lists every variable docker-compose.yml reads', () => {
    const read = stringsIn(compose).flatMap((value) =>
      [...value.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((match) => match[1] ?? ''),
    );
    expect(read.length).toBeGreaterThan(0);
    expect(read.filter((key) => !listed.has(key))).toEqual([]);
  });
});

describe.each(['producer', 'consumer'])('%s/Dockerfile', (name) => {
  const dockerfile = readRootFile(`${name}/Dockerfile`);

  it('builds every stage on Node 24', () => {
    const bases = [...dockerfile.matchAll(/^FROM\s+(\S+)/gim)].map((match) => match[1]);
    expect(bases.length).toBeGreaterThanOrEqual(2);
    for (const base of bases) expect(base).toMatch(/^node:24(?:[-.@]|$)/);
  });

  it('runs the final image as the unprivileged node user', () => {
    expect(finalStage(dockerfile)).toMatch(/^USER node\s*$/m);
  });

  it(`starts ${name}/dist/main.js`, () => {
    expect(finalStage(dockerfile)).toContain(`CMD ["node", "${name}/dist/main.js"]`);
  });
});
