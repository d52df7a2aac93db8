import { formatBytes } from '../console/formatBytes.js';

/**
 * A copy's progress on a terminal: one line redrawn in place on stderr, at most ten times a second,
 * and nothing at all when stderr is not a terminal (a script's log stays clean).
 */

export { formatBytes };

/** The line itself (pure): `name  [#####-----]  42%  84.0 MiB / 200.0 MiB  55.3 MiB/s`. */
export function progressLine(name: string, done: number, total: number, elapsedMs: number, width = 24): string {
  const fraction = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(fraction * width);
  const rate = elapsedMs > 0 ? formatBytes((done * 1000) / elapsedMs) + '/s' : '';
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `${name}  [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${percent}  ${formatBytes(done)} / ${formatBytes(total)}  ${rate}`;
}

export interface ProgressBar {
  update(done: number, total: number): void;
  finish(): void;
}

export function progressBar(name: string, out: NodeJS.WriteStream = process.stderr, now = Date.now): ProgressBar {
  if (!out.isTTY) return { update: () => undefined, finish: () => undefined };
  const started = now();
  let last = 0;
  let shown = false;
  let latest = { done: 0, total: 0 };
  const draw = () => {
    out.write(`\r${progressLine(name, latest.done, latest.total, now() - started)}\x1b[K`);
    shown = true;
  };
  return {
    update(done, total) {
      latest = { done, total };
      if (now() - last < 100) return;
      last = now();
      draw();
    },
    finish() {
      if (shown) {
        draw();
        out.write('\n');
      }
      shown = false;
    },
  };
}
