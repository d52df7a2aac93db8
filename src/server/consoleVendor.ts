import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The package's node_modules, from dist/src/server. */
const NODE_MODULES = join(here, '..', '..', '..', 'node_modules');

/**
 * Third-party browser code the console's pages load, served by the server itself from the installed
 * packages (no CDN: the console must work with no way out to the internet, and its CSP allows
 * scripts from this origin only). Each entry maps a URL prefix under /console/ to files or
 * directories of one package; a directory is taken whole (its subdirectories too), keeping its
 * relative paths, so ES modules that import each other by relative URL work as they are.
 *
 * Add an entry here for another page's library: the URL prefix, the package, and what of it.
 */
export const VENDOR_ENTRIES: readonly { prefix: string; pkg: string; paths: readonly string[] }[] = [
  // The terminal page (terminalPage.ts).
  { prefix: 'vendor/xterm/', pkg: '@xterm/xterm', paths: ['lib/xterm.mjs', 'css/xterm.css'] },
  { prefix: 'vendor/xterm-fit/', pkg: '@xterm/addon-fit', paths: ['lib/addon-fit.mjs'] },
  // The remote desktop page (desktopPage.ts): noVNC's ES modules and the zlib they import.
  { prefix: 'vendor/novnc/', pkg: '@novnc/novnc', paths: ['core', 'vendor/pako/lib'] },
];

/** Only these are served: code and styles, nothing a package may also hold (maps, docs, binaries). */
const EXTENSION = /\.(m?js|css)$/;
/** One path segment: no dots alone, no separators, nothing a URL could use to climb out. */
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

/**
 * Reads every vendor file once (at the server's start) into a map of URL path under /console/ to
 * contents. A request can only look a name up, never reach the disk, so no path can escape. A
 * package that is missing (a build without it) serves nothing; the page that needs it says so.
 */
export function readVendorFiles(root = NODE_MODULES, entries = VENDOR_ENTRIES): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const add = (prefix: string, base: string, relative: string, depth: number) => {
    if (!relative.split('/').every((s) => SEGMENT.test(s)) || depth > 8) return;
    const path = join(base, relative);
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      return;
    }
    if (isDir) {
      for (const name of readdirSync(path).sort()) add(prefix, base, `${relative}/${name}`, depth + 1);
    } else if (EXTENSION.test(relative)) {
      files.set(prefix + relative, readFileSync(path));
    }
  };
  for (const entry of entries) for (const path of entry.paths) add(entry.prefix, join(root, entry.pkg), path, 0);
  return files;
}
