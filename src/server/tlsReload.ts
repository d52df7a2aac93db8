import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from './logger.js';
import { loadTlsFiles, type TlsMaterial } from './tlsFiles.js';

/** Replacing a certificate and its key is two writes (or renames): wait for both to land. */
const SETTLE_MS = 300;

export interface TlsFileWatch {
  /** Reads the files again now (SIGHUP); a pair that does not load keeps the current certificate. */
  reload(reason: string): void;
  stop(): void;
}

/**
 * Watches a certificate and its key (`--tls-cert/--tls-key`, or the data directory's self-signed
 * pair) and hands every new, valid pair to `apply`, which serves it to new connections. The
 * directories are watched, not the files: tools replace a certificate by renaming a new file over
 * it, which a watch on the old file would never see. A pair that does not load (half written, a
 * key of another certificate) is reported once, as a warning, and the current certificate stays.
 */
export function watchTlsFiles(
  certFile: string,
  keyFile: string,
  current: TlsMaterial,
  apply: (material: TlsMaterial) => void,
  logger: Logger,
): TlsFileWatch {
  const files = [resolve(certFile), resolve(keyFile)];
  let served = current;
  let lastProblem = '';
  let timer: NodeJS.Timeout | undefined;

  const load = (reason: string) => {
    let material: TlsMaterial;
    try {
      material = loadTlsFiles(certFile, keyFile);
    } catch (err) {
      const problem = (err as Error).message;
      if (problem !== lastProblem)
        logger.warn(
          { certFile, keyFile, reason, err: problem },
          'TLS files not reloaded: the current certificate stays; fix the files (the same certificate and its key, PEM)',
        );
      lastProblem = problem;
      return;
    }
    lastProblem = '';
    if (material.cert === served.cert && material.key === served.key) return;
    served = material;
    apply(material);
  };

  const watchers: FSWatcher[] = [];
  for (const dir of new Set(files.map((f) => dirname(f)))) {
    const names = new Set(files.filter((f) => dirname(f) === dir).map((f) => basename(f)));
    try {
      const watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name !== null && !names.has(name.toString())) return;
        clearTimeout(timer);
        timer = setTimeout(() => load('the files changed'), SETTLE_MS);
      });
      watcher.on('error', () => watcher.close());
      watchers.push(watcher);
    } catch (err) {
      logger.warn({ dir, err: (err as Error).message }, 'cannot watch the TLS files; send SIGHUP after replacing them');
    }
  }

  return {
    reload: (reason) => {
      clearTimeout(timer);
      load(reason);
    },
    stop: () => {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
