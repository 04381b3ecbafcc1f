// Part of `npm run build`, after tsc: bundles the server (dist/src/main.js, tsc's output) with the libraries its start
// loads into dist/src/main.js and main-*.js chunks beside it. A start then loads ~50 files of JavaScript instead of
// ~1,000 (module resolution, stat and per-module compile were half of the start's CPU). Its input is tsc's output:
// run it after tsc, as npm run build does. Every command (`npm start`,
// the image, the `accouch` bin, the e2e tests) runs this bundle. The migrations (dist/migrations/*.js, which kysely's
// FileMigrationProvider imports by path) are entries of the same build, so they and the server share one kysely
// (two copies would make the migrations' `instanceof PostgresAdapter` false on PostgreSQL). Left as they are, loaded
// from node_modules: native addons (better-sqlite3, pg) and the libraries only a feature loads on first use.
import { rolldown } from 'rolldown';
import { readdirSync, rmSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { lazyEngineErrors } from './lazy-engine-errors.mjs';
import { oidcContextProperty } from './oidc-context-property.mjs';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');
const outDir = join(dist, 'src');
const migrationsDir = join(dist, 'migrations');
const external = [
  'better-sqlite3', 'pg', 'yaml',
  // Loaded on first use by one feature: bundling them would not make a start faster.
  '@simplewebauthn/server', '@simplewebauthn/browser', 'otplib', 'qrcode', 'tldts', 'openid-client', 'nodemailer', 'web-push',
  'prom-client', '@kubernetes/client-node', 'proper-lockfile', '@koa/multer', 'multer',
];
const isExternal = (id) => external.some((name) => id === name || id.startsWith(`${name}/`));

// The previous build's chunks and tsc's source maps (they would describe the files before bundling).
for (const file of readdirSync(outDir)) if (/^main-.*\.js$/.test(file)) rmSync(join(outDir, file));
rmSync(join(outDir, 'main.js.map'), { force: true });
const migrations = readdirSync(migrationsDir).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3));
for (const name of migrations) rmSync(join(migrationsDir, `${name}.js.map`), { force: true });

const bundle = await rolldown({
  input: { 'src/main': join(outDir, 'main.js'), ...Object.fromEntries(migrations.map((name) => [`migrations/${name}`, join(migrationsDir, `${name}.js`)])) },
  platform: 'node',
  logLevel: 'warn',
  external: isExternal,
  // depd (under koa) calls eval to keep a function's arity: harmless here, and not ours to change.
  onLog: (level, log, handler) => (log.code === 'EVAL' ? undefined : handler(level, log)),
  plugins: [lazyEngineErrors(root), oidcContextProperty(), {
    name: 'accouch-module-urls',
    // Our modules find views, migrations, the worker file and package.json from their own URL: each keeps the URL
    // of its tsc output, as seen from the bundle (every chunk sits in dist/src, so one relative path fits all).
    transform(code, id) {
      if (!code.includes('import.meta')) return null;
      if (!isAbsolute(id)) return null; // the bundler's runtime: the chunk's own URL is the one it means
      if (!id.startsWith(dist + sep)) {
        this.error(`${relative(root, id)} uses import.meta: keep it external or teach this plugin its paths`);
      }
      const url = `new URL(${JSON.stringify(relative(outDir, id).split(sep).join('/'))}, import.meta.url)`;
      const filename = `process.getBuiltinModule('node:url').fileURLToPath(${url})`;
      const out = code
        .replaceAll('import.meta.url', `${url}.href`)
        .replaceAll('import.meta.dirname', `process.getBuiltinModule('node:path').dirname(${filename})`)
        .replaceAll('import.meta.filename', filename);
      const other = /import\.meta\.(?!url\b)\w+/.exec(out);
      if (other) this.error(`${relative(root, id)} uses ${other[0]}, which a bundle cannot keep`);
      return out;
    },
    // The paths above are relative to dist/src: a migration (which never imports app code) must not carry our modules.
    generateBundle(_options, output) {
      for (const chunk of Object.values(output)) {
        const ours = chunk.type === 'chunk' && chunk.fileName.startsWith('migrations/') ? chunk.moduleIds.filter((id) => id.startsWith(outDir + sep)) : [];
        if (ours.length) this.error(`${chunk.fileName} bundles ${ours.map((id) => relative(root, id)).join(', ')}`);
      }
    },
  }],
});
await bundle.write({ dir: dist, format: 'esm', entryFileNames: '[name].js', chunkFileNames: 'src/main-[name]-[hash].js', minify: false, sourcemap: false });
await bundle.close();
