// Keeps STYLE.md's dependency direction true: every import specifier under src/ (static, re-export, dynamic)
// is checked against the layer rules below, and every violation is printed as `src/a.ts imports src/b.ts`.
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const srcDir = join(root, 'src');

interface Edge {
  from: string; // 'src/http/app.ts'
  to: string; // 'src/store/db.ts', or the package name for external imports
  typeOnly: boolean;
  internal: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every import of a file, parsed by the TypeScript compiler (no regex to fool with comments or strings). */
function importsOf(file: string, text = readFileSync(file, 'utf8')): Edge[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const from = relative(root, file);
  const edges: Edge[] = [];
  const add = (specifier: string, typeOnly: boolean) => {
    const internal = specifier.startsWith('.');
    const to = internal ? relative(root, resolve(dirname(file), specifier)).replace(/\.js$/, '.ts') : specifier;
    edges.push({ from, to, typeOnly, internal });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      // `import { type A }` still loads the module under verbatimModuleSyntax: only `import type` is type-only.
      add(node.moduleSpecifier.text, node.importClause?.isTypeOnly ?? false);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteralLike(arg)) add(arg.text, false);
      else edges.push({ from, to: `<dynamic import of a computed specifier>`, typeOnly: false, internal: true });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      add(node.argument.literal.text, true); // `import('x').T` in a type position
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)
      && ts.isStringLiteral(node.moduleReference.expression)) {
      add(node.moduleReference.expression.text, node.isTypeOnly);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

type Layer = 'main' | 'cli' | 'http' | 'oidc' | 'auth' | 'store' | 'integrations' | 'cluster' | 'config' | 'config-reference' | 'log' | 'errors';

/** A top-level file that is not listed here has no layer, so its imports fail until it is given one. */
function layerOf(path: string): Layer | undefined {
  const m = /^src\/(?:(main|config|config-reference|log|errors)\.ts|(cli|http|oidc|auth|store|integrations|cluster)\/.+)$/.exec(path);
  return (m?.[1] ?? m?.[2]) as Layer | undefined;
}

/**
 * What each layer may import besides itself. An entry is a layer, or one file ('oidc/keys.ts'); `type:` allows
 * `import type` only. From STYLE.md "Dependency direction"; integrations is not spelled out there, so it is
 * kept to leaves until it needs more.
 */
const allowed: Record<Layer, string[]> = {
  main: ['*'],
  cli: ['store', 'auth', 'oidc/keys.ts', 'oidc/sessions.ts', 'integrations', 'config', 'log', 'errors'],
  // integrations: presets' pure setup text for the owner console; oidc/interactions.ts: the port's types only
  http: ['auth', 'errors', 'integrations', 'type:store', 'type:log', 'type:oidc/interactions.ts'],
  // the classifier arrives as an argument; interactions.ts hands out the sign-in's plain types
  oidc: ['store', 'auth/policy.ts', 'type:auth/network.ts', 'type:auth/sign-in/types.ts', 'errors', 'config', 'log'],
  // oidc/sessions.ts: the one module that reads Session and Grant payloads (it imports the store only)
  auth: ['store', 'errors', 'config', 'oidc/sessions.ts'],
  store: ['errors', 'type:config'],
  integrations: ['config', 'errors', 'type:store'],
  cluster: ['store', 'auth', 'integrations', 'config', 'log', 'errors'], // the AccouchClient operator: a door like the CLI, not http
  config: [],
  'config-reference': ['config'], // the README generator (npm run docs): reads the schema, nothing else
  log: [],
  errors: [],
};

/** Packages a layer must not touch: auth is sign-in logic without koa or oidc-provider; the store is kysely. */
const forbiddenPackages: Partial<Record<Layer, RegExp>> = {
  auth: /^(koa|@koa\/|oidc-provider)/,
  store: /^(koa|@koa\/|oidc-provider|pino)/,
  config: /^(koa|@koa\/|oidc-provider|kysely|better-sqlite3)/,
  'config-reference': /^(koa|@koa\/|oidc-provider|kysely|better-sqlite3)/,
  errors: /./,
};

function permits(edge: Edge): boolean {
  const fromLayer = layerOf(edge.from);
  const toLayer = layerOf(edge.to);
  if (!fromLayer || !toLayer) return false; // outside src/ (e.g. migrations/, package.json) or unresolvable
  if (fromLayer === toLayer) return true;
  const target = edge.to.slice('src/'.length);
  return allowed[fromLayer].some((rule) => {
    const typeRule = rule.startsWith('type:');
    const name = typeRule ? rule.slice(5) : rule;
    const matches = name === '*' || name === toLayer || name === target;
    return matches && (!typeRule || edge.typeOnly);
  });
}

const edges = sourceFiles(srcDir).flatMap((file) => importsOf(file));
const internal = edges.filter((e) => e.internal);

describe('dependency direction (STYLE.md)', () => {
  test('the scanner sees the imports (so the rules below cannot pass vacuously)', () => {
    expect(internal.length).toBeGreaterThan(20);
    // A few edges that are known to exist, one per kind of layer.
    expect(internal).toContainEqual(expect.objectContaining({ from: 'src/main.ts', to: 'src/http/app.ts' }));
    expect(internal).toContainEqual(expect.objectContaining({ from: 'src/oidc/adapter.ts', to: 'src/store/oidc-payloads.ts' }));
    expect(internal).toContainEqual(expect.objectContaining({ from: 'src/http/app.ts', to: 'src/store/db.ts', typeOnly: true }));
    expect(internal).toContainEqual(expect.objectContaining({ from: 'src/auth/login.ts', to: 'src/store/users.ts', typeOnly: false }));
    expect(edges.filter((e) => !e.internal).map((e) => e.to)).toContain('oidc-provider');
  });

  test('the scanner reads static, re-export, dynamic and type-only imports', () => {
    const parsed = (text: string) =>
      importsOf(join(srcDir, 'http', 'probe.ts'), text).map((e) => `${e.to}${e.typeOnly ? ' (type)' : ''}`);
    expect(parsed([
      "import type { A } from '../store/db.js';",
      "import { type B, c } from '../store/users.js';",
      "export { d } from '../errors.js';",
      "export * from '../log.js';",
      "const m = await import('./app.js');",
      "// import { fake } from '../main.js';",
      "const s = \"import x from '../main.js'\";",
    ].join('\n'))).toEqual([
      'src/store/db.ts (type)', 'src/store/users.ts', 'src/errors.ts', 'src/log.ts', 'src/http/app.ts',
    ]);
  });

  test('every internal import follows the layer rules', () => {
    const violations = internal.filter((e) => !permits(e))
      .map((e) => `${e.from} imports ${e.to}${e.typeOnly ? ' (type-only)' : ''}`);
    expect(violations, `dependency direction violated:\n${violations.join('\n')}`).toEqual([]);
  });

  test('nothing but main imports http, and nothing imports main', () => {
    const violations = internal
      .filter((e) => (layerOf(e.to) === 'http' && !['main', 'http'].includes(layerOf(e.from)!)) || e.to === 'src/main.ts')
      .map((e) => `${e.from} imports ${e.to}`);
    expect(violations, violations.join('\n')).toEqual([]);
  });

  test('auth, store, config and errors stay free of the web and protocol libraries', () => {
    const violations = edges
      .filter((e) => !e.internal && forbiddenPackages[layerOf(e.from)!]?.test(e.to) && !e.to.startsWith('node:'))
      .map((e) => `${e.from} imports ${e.to}`);
    expect(violations, violations.join('\n')).toEqual([]);
  });

  test('the rules reject what STYLE.md forbids', () => {
    const edge = (from: string, to: string, typeOnly = false): Edge => ({ from, to, typeOnly, internal: true });
    expect(permits(edge('src/http/app.ts', 'src/store/db.ts'))).toBe(false);
    expect(permits(edge('src/http/app.ts', 'src/store/db.ts', true))).toBe(true);
    expect(permits(edge('src/cli/keys.ts', 'src/oidc/keys.ts'))).toBe(true);
    expect(permits(edge('src/cli/keys.ts', 'src/oidc/provider.ts'))).toBe(false);
    expect(permits(edge('src/oidc/account.ts', 'src/auth/policy.ts'))).toBe(true);
    expect(permits(edge('src/oidc/account.ts', 'src/auth/login.ts'))).toBe(false);
    expect(permits(edge('src/store/users.ts', 'src/config.ts'))).toBe(false);
    expect(permits(edge('src/store/users.ts', 'src/config.ts', true))).toBe(true);
    expect(permits(edge('src/auth/login.ts', 'src/oidc/keys.ts'))).toBe(false);
    expect(permits(edge('src/config.ts', 'src/errors.ts'))).toBe(false);
    expect(permits(edge('src/oidc/provider.ts', 'src/http/views.ts'))).toBe(false);
    expect(permits(edge('src/main.ts', 'src/http/app.ts'))).toBe(true);
    expect(permits(edge('src/store/db.ts', 'migrations/x.ts'))).toBe(false);
  });
});

/** Import cycles among files (Tarjan's strongly connected components), each as its files in order. */
function cyclesOf(graphEdges: Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of graphEdges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let counter = 0;
  const visit = (node: string) => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const to of next.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (next.get(node) ?? []).includes(node)) found.push(component.sort());
    }
  };
  for (const node of next.keys()) if (!index.has(node)) visit(node);
  return found;
}

/** Outside oidc/, only the adapter's table reads payloads: it indexes the ids every model carries (accountId, grantId, uid, userCode) on write. */
const payloadReadersToMove = ['src/store/oidc-payloads.ts'];

describe('no import cycles, and one door to the interaction API', () => {
  test('no two files of src/ import each other, directly or through others (type-only imports included)', () => {
    const cycles = cyclesOf(internal.filter((e) => e.to.startsWith('src/')));
    expect(cycles.map((c) => c.join(' <-> ')), 'import cycles').toEqual([]);
  });

  test('the account and console page files import the kit, never their parent route file (STYLE.md http/)', () => {
    const parents = ['src/http/account/account.ts', 'src/http/admin/admin.ts'];
    const folderOf = (path: string) => path.slice(0, path.lastIndexOf('/') + 1);
    const fromParentFolder = (e: Edge) => parents.some((parent) => e.from.startsWith(folderOf(parent)) && e.from !== parent);
    const violations = internal.filter((e) => fromParentFolder(e) && parents.includes(e.to)).map((e) => `${e.from} imports ${e.to}`);
    expect(violations, violations.join('\n')).toEqual([]);
    // Not vacuous: the parents are the ones app.ts wires, and their folders' files do import the kit.
    for (const parent of parents) expect(internal).toContainEqual(expect.objectContaining({ from: 'src/http/app.ts', to: parent }));
    expect(internal).toContainEqual(expect.objectContaining({ from: 'src/http/account/factors.ts', to: 'src/http/kit.ts' }));
    expect(internal).toContainEqual(expect.objectContaining({ from: 'src/http/admin/users.ts', to: 'src/http/kit.ts' }));
    expect([{ from: 'src/http/admin/users.ts', to: 'src/http/admin/admin.ts', typeOnly: true, internal: true }].filter(fromParentFolder)).toHaveLength(1);
  });

  test('the cycle check finds a cycle when there is one', () => {
    const edge = (from: string, to: string): Edge => ({ from, to, typeOnly: false, internal: true });
    expect(cyclesOf([edge('a', 'b'), edge('b', 'c'), edge('c', 'a'), edge('c', 'd')])).toEqual([['a', 'b', 'c']]);
    expect(cyclesOf([edge('a', 'b'), edge('b', 'c')])).toEqual([]);
  });

  test('only oidc/interactions.ts calls interactionDetails, interactionResult or interactionFinished', () => {
    const callers = sourceFiles(srcDir)
      .filter((file) => /\binteraction(Details|Result|Finished)\s*\(/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(root, file));
    expect(callers).toEqual(['src/oidc/interactions.ts']);
  });

  test('only oidc/ reads Session and Grant payloads (their fields through casts)', () => {
    const readers = sourceFiles(srcDir)
      // The adapter's table indexes the ids every model carries (accountId, grantId, uid, userCode) on write.
      .filter((file) => !relative(root, file).startsWith('src/oidc/') && !payloadReadersToMove.includes(relative(root, file)))
      .filter((file) => /payload\.(authorizations|loginTs|accountId|openid|acr|amr)\b|payload as \{/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(root, file));
    expect(readers).toEqual([]);
  });
});

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
const packageOf = (specifier: string) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');

describe('the package installs with production dependencies only (npm install --omit=dev, the Docker image)', () => {
  const { dependencies = {} } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const shipped = [...sourceFiles(srcDir), ...sourceFiles(join(root, 'migrations'))].flatMap((file) => importsOf(file));

  test('every package that src/ and migrations/ load at run time is in dependencies, not devDependencies', () => {
    const loaded = shipped.filter((e) => !e.internal && !e.typeOnly);
    expect(shipped.filter((e) => e.from.startsWith('migrations/')).map((e) => e.to)).toContain('kysely'); // scanned too
    const missing = loaded
      .filter((e) => !e.to.startsWith('node:') && !builtinModules.includes(e.to) && !(packageOf(e.to) in dependencies))
      .map((e) => `${e.from} loads ${e.to}, which is not in package.json dependencies`);
    expect(missing, missing.join('\n')).toEqual([]);
  });

  test('the check tells a devDependency from a dependency', () => {
    expect(packageOf('@koa/router')).toBe('@koa/router');
    expect(packageOf('oidc-provider/lib/x.js')).toBe('oidc-provider');
    expect('@koa/router' in dependencies).toBe(true);
    expect('vitest' in dependencies).toBe(false);
  });
});
