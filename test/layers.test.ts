/**
 * Issue 15, "folders that show the layers": every import between the folders of src/ points down.
 * The table below is the architecture (docs/architecture.md draws it): a folder may import only the
 * folders it lists. The test reads the sources themselves, type-only imports included, since a
 * type arrow that points up is the first step of a real one.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = join(ROOT, 'src');

/** Low to high. Each folder may import itself and the folders listed; nothing else. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  protocol: [],
  net: ['protocol'],
  store: ['protocol'],
  server: ['protocol', 'net', 'store'],
  cluster: ['protocol', 'net', 'store', 'server'],
  client: ['protocol', 'net'],
  control: ['protocol', 'net', 'store'],
  console: ['protocol'],
  cli: ['protocol', 'net', 'store', 'server', 'cluster', 'client', 'control'],
  // src/index.ts, the package's entry: it re-exports what an embedding program uses, from any layer.
  '': ['protocol', 'net', 'store', 'server', 'cluster', 'client', 'control', 'cli'],
};

/**
 * Pure modules of the console that the server and the CLI use too. They live in src/console
 * because the browser loads the console's scripts flat from one directory (consoleFiles.ts).
 */
const SHARED_CONSOLE_MODULES = ['console/naturalOrder.ts', 'console/formatBytes.ts'];

interface Arrow {
  file: string;
  from: string;
  to: string;
  spec: string;
}

/** The relative module specifiers of a source text: static imports, re-exports and dynamic imports. */
export function importSpecifiers(text: string): string[] {
  const found: string[] = [];
  const patterns = [/\bfrom\s+'(\.[^']*)'/g, /\bimport\s+'(\.[^']*)'/g, /\bimport\(\s*'(\.[^']*)'\s*\)/g];
  for (const pattern of patterns) for (const m of text.matchAll(pattern)) found.push(m[1]!);
  return found;
}

/** The folder under src/ that a path lies in ('' for a file at the top of src/, or outside it). */
function folderOf(path: string): string {
  const rel = relative(SRC, path);
  if (rel.startsWith('..')) return '';
  const parts = rel.split(sep);
  return parts.length > 1 ? parts[0]! : '';
}

/** The arrows that the table does not allow. */
export function upwardArrows(files: readonly { path: string; text: string }[]): Arrow[] {
  const bad: Arrow[] = [];
  for (const { path, text } of files) {
    const from = folderOf(path);
    for (const spec of importSpecifiers(text)) {
      const to = folderOf(normalize(join(dirname(path), spec)));
      if (to === from || to === '') continue;
      const target = relative(SRC, normalize(join(dirname(path), spec)))
        .split(sep)
        .join('/')
        .replace(/\.js$/, '.ts');
      if (SHARED_CONSOLE_MODULES.includes(target)) continue;
      const allowed = MAY_IMPORT[from];
      if (!allowed?.includes(to)) bad.push({ file: relative(ROOT, path), from, to, spec });
    }
  }
  return bad;
}

function sources(dir: string): { path: string; text: string }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'static' ? [] : sources(path);
    return entry.name.endsWith('.ts') ? [{ path, text: readFileSync(path, 'utf8') }] : [];
  });
}

test('every folder of src/ is in the layer table', () => {
  const folders = readdirSync(SRC, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  for (const folder of folders) assert.ok(folder in MAY_IMPORT, `src/${folder} has no place in the layer table`);
});

test('no import in src/ points up a layer', () => {
  const files = sources(SRC);
  assert.ok(files.length > 100, `read ${files.length} source files`);
  const bad = upwardArrows(files);
  assert.deepEqual(
    bad.map((a) => `${a.file}: ${a.from} -> ${a.to} ('${a.spec}')`),
    [],
    'imports that point up a layer',
  );
});

test('the check sees an upward import of each kind', () => {
  const at = (folder: string, name: string) => join(SRC, folder, name);
  const bad = upwardArrows([
    { path: at('server', 'x.ts'), text: "import type { ClusterHost } from '../cluster/clusterHost.js';" },
    { path: at('client', 'y.ts'), text: "export { splice } from '../server/splice.js';" },
    { path: at('cluster', 'z.ts'), text: "const m = await import('../client/backoff.js');" },
    { path: at('net', 'w.ts'), text: "import '../server/logger.js';" },
    { path: at('server', 'ok.ts'), text: "import { Link } from '../net/link.js';\nimport { x } from './y.js';" },
  ]);
  assert.deepEqual(
    bad.map((a) => `${a.from}->${a.to}`),
    ['server->cluster', 'client->server', 'cluster->client', 'net->server'],
  );
});
