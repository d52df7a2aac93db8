import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Preloaded (`node --expose-gc --import dist/bench/memProbe.js ...`) into a server whose memory a
 * benchmark measures, Switchboard or the bare baseline alike: on SIGUSR2 it runs a full GC and
 * writes the process's memory figures to $MEMPROBE_DIR/PID.json. The GC is what makes heap figures
 * comparable: with --initial-old-space-size=64 a process may otherwise carry up to 64 MB of garbage.
 * (The RSS before the GC is read from /proc by the benchmark itself.)
 */
const dir = process.env.MEMPROBE_DIR;
if (dir) {
  process.on('SIGUSR2', () => {
    const collect = (globalThis as { gc?: () => void }).gc;
    collect?.();
    collect?.();
    const m = process.memoryUsage();
    const out = {
      at: Date.now(),
      gc: Boolean(collect),
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
    };
    // Written aside then renamed, so the benchmark never reads half a file.
    const file = join(dir, `${process.pid}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(out));
    renameSync(`${file}.tmp`, file);
  });
}
