// The Dockerfile, checked without a Docker engine: node 24 bases, a production-only runtime stage run by a
// numeric non-root user with /data as a volume, a /healthz HEALTHCHECK, an init, OCI labels, and COPY sources
// that exist and get through .dockerignore. test/e2e/package.test.ts runs the same pack-and-install steps.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { DockerfileParser, ModifiableInstruction, type Instruction } from 'dockerfile-ast';
import { describe, expect, test } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; license: string };
const dockerfile = DockerfileParser.parse(readFileSync(join(root, 'Dockerfile'), 'utf8'));
// CommonJS (`module.exports = ignore`) whose types declare a default export: required as what it is.
const ignore = createRequire(import.meta.url)('@balena/dockerignore') as typeof import('@balena/dockerignore').default;
const dockerignore = ignore().add(readFileSync(join(root, '.dockerignore'), 'utf8'));

/** ARG defaults declared before the first FROM (the only variables a FROM line may use). */
const globalArgs = new Map(dockerfile.getInitialARGs().map((arg) => [arg.getProperty()!.getName(), arg.getProperty()!.getValue() ?? '']));
const expand = (text: string) => text.replace(/\$\{?(\w+)\}?/g, (_, name: string) => globalArgs.get(name) ?? `<unset ${name}>`);

interface Stage { name: string | null; image: string; instructions: Instruction[] }

/** The instructions grouped by stage, FROM lines resolved. */
const stages: Stage[] = [];
for (const instruction of dockerfile.getInstructions()) {
  const keyword = instruction.getKeyword();
  if (keyword === 'FROM') {
    const [image = '', as, name = null] = instruction.getArguments().map((a) => a.getValue());
    stages.push({ name: as?.toUpperCase() === 'AS' ? name : null, image: expand(image), instructions: [] });
  } else if (keyword !== 'ARG' || stages.length) {
    stages.at(-1)!.instructions.push(instruction);
  }
}
const final = stages.at(-1)!;
const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
/** The value of a flag such as COPY --from=… */
const flag = (instruction: Instruction, name: string) =>
  (instruction instanceof ModifiableInstruction ? instruction.getFlags().find((f) => f.getName() === name)?.getValue() : undefined) ?? undefined;
const text = (instruction: Instruction) => instruction.getArgumentsContent() ?? '';
/** The JSON (exec form) part of an instruction such as CMD, ENTRYPOINT or HEALTHCHECK … CMD [...]. */
const execForm = (instruction: Instruction) => JSON.parse(text(instruction).replace(/^[^[]*/, '')) as string[];

/** Files git knows under a path (what a fresh clone's build context holds). */
const tracked = (path: string) => execFileSync('git', ['ls-files', '--', path], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);

describe('Dockerfile', () => {
  test('has three stages, every one on the official node 24 image', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'install', null]);
    for (const stage of stages) expect(stage.image).toMatch(/^node:24(-[a-z0-9-]+)?$/);
  });

  test('the final stage runs as a numeric non-root user', () => {
    const users = of(final, 'USER').map(text);
    expect(users.length).toBeGreaterThan(0);
    const [uid, gid] = users.at(-1)!.split(':');
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    if (gid !== undefined) expect(Number(gid)).toBeGreaterThan(0);
    // The user is created with that id and owns /data, so a fresh named volume is writable.
    const runs = of(final, 'RUN').map(text).join('\n');
    expect(runs).toContain(`--uid ${uid}`);
    expect(runs).toMatch(new RegExp(`chown ${uid}(:\\d+)? /data`));
  });

  test('keeps its data in a /data volume and listens on 8080', () => {
    expect(of(final, 'VOLUME').flatMap((v) => execForm(v))).toContain('/data');
    const env = of(final, 'ENV').flatMap((e) => e.getArguments().map((a) => a.getValue()));
    expect(env).toEqual(expect.arrayContaining(['ACCOUCH_DATA_DIR=/data', 'ACCOUCH_PORT=8080']));
    expect(of(final, 'EXPOSE').map(text)).toContain('8080');
  });

  test('checks health on /healthz with node (there is no curl), and runs under an init that forwards signals', () => {
    const [healthcheck] = of(final, 'HEALTHCHECK');
    expect(healthcheck).toBeDefined();
    const command = execForm(healthcheck!);
    expect(command.slice(0, 2)).toEqual(['node', '-e']);
    expect(command[2]).toContain('/healthz');
    const entrypoint = execForm(of(final, 'ENTRYPOINT').at(-1)!);
    expect(entrypoint.slice(0, 3)).toEqual(['/usr/bin/tini', '--', 'accouch']);
    expect(of(final, 'RUN').map(text).join('\n')).toMatch(/apt-get install [^&]*\btini\b/);
    expect(execForm(of(final, 'CMD').at(-1)!)).toEqual(['serve']);
  });

  test('the runtime holds production dependencies only: a --omit=dev install of the packed tarball, no build tools', () => {
    const [install] = stages.filter((s) => s.name === 'install');
    expect(of(install!, 'RUN').map(text).join('\n')).toMatch(/npm install --omit=dev [^&]*accouch\.tgz/);
    expect(of(stages[0]!, 'RUN').map(text).join('\n')).toMatch(/npm pack/);
    expect(of(final, 'RUN').map(text).join('\n')).not.toMatch(/\bnpm\b/);
    expect(of(final, 'COPY').map((c) => flag(c, 'from'))).toEqual(['install']);
  });

  test('carries the OCI labels, the version matching package.json', () => {
    const labels = Object.fromEntries(of(final, 'LABEL').flatMap((l) => (l as unknown as { getProperties(): { getName(): string; getValue(): string }[] })
      .getProperties().map((p) => [p.getName(), p.getValue()])));
    for (const key of ['title', 'description', 'licenses', 'version', 'revision', 'base.name']) {
      expect(labels, key).toHaveProperty(`org.opencontainers.image.${key}`);
    }
    expect(labels['org.opencontainers.image.licenses']).toBe(pkg.license);
    const version = of(final, 'ARG').map(text).find((a) => a.startsWith('VERSION='));
    expect(version).toBe(`VERSION=${pkg.version}`);
    expect(labels['org.opencontainers.image.base.name']).toMatch(new RegExp(`/${expand('${NODE_IMAGE}')}$`));
  });

  test('every COPY from the build context exists in the repository and gets through .dockerignore', () => {
    const sources = stages.flatMap((s) => of(s, 'COPY'))
      .filter((c) => flag(c, 'from') === undefined)
      .flatMap((c) => c.getArguments().map((a) => a.getValue()).slice(0, -1));
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src', 'migrations', 'views']));
    for (const source of sources) {
      expect(existsSync(join(root, source)), `${source} exists`).toBe(true);
      const files = tracked(source);
      expect(files.length, `git tracks ${source}`).toBeGreaterThan(0);
      expect(files.filter((f) => dockerignore.ignores(f)), `.dockerignore excludes files of ${source}`).toEqual([]);
    }
  });

  test('every COPY --from names an earlier stage and a path that stage makes', () => {
    stages.forEach((stage, index) => {
      for (const copy of of(stage, 'COPY')) {
        const from = flag(copy, 'from');
        if (!from) continue;
        const source = stages.slice(0, index).find((s) => s.name === from);
        expect(source, `stage ${from}`).toBeDefined();
        const made = [...of(source!, 'RUN').map(text), ...of(source!, 'WORKDIR').map(text)].join('\n');
        for (const path of copy.getArguments().map((a) => a.getValue()).slice(0, -1)) expect(made, path).toContain(path);
      }
    });
  });

  test('.dockerignore keeps dependencies, builds, data, git and tests out of the build context', () => {
    for (const path of ['node_modules/koa/package.json', 'dist/src/main.js', 'data/accouch.sqlite', 'data/secret.key', '.git/config', 'test/unit/config.test.ts', '.npmrc', 'chart/values.yaml']) {
      expect(dockerignore.ignores(path), path).toBe(true);
    }
    // The check above can fail: a path the Dockerfile copies is let through.
    expect(dockerignore.ignores('src/main.ts')).toBe(false);
  });
});
