import { spawnSync } from 'node:child_process';
import { openSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createLogger } from '../src/server/logger.js';

/**
 * What one log line costs a server when lines come one at a time (a `client up` per client, a few
 * milliseconds apart), not in a tight loop: one line per event-loop turn, 10,000 turns, process CPU
 * (all threads) per turn, less an empty turn's. Each way of writing runs in its own process, its
 * stdout a file, as a server's usually is.
 *
 *   node dist/bench/logLineCost.js
 *
 * Figures in docs/benchmarks.md (placement, "A log line costs").
 */
const TURNS = 10_000;
const MODES = {
  none: () => undefined,
  'asynchronous (as shipped)': () => createLogger('info'),
  'buffered (4 KB, flushed every 100 ms)': () =>
    createLogger('info', pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 100 })),
  synchronous: () => createLogger('info', pino.destination({ dest: 1, sync: true })),
} as const;
type Mode = keyof typeof MODES;

function measure(mode: Mode): void {
  const logger = MODES[mode]();
  let turn = 0;
  const before = process.cpuUsage();
  const step = () => {
    logger?.info(
      { peer: '127.0.0.1', channel: 'client', client: 'e0REoUFCDtFrf-_flXzyOiAakD', name: `x-${turn}`, keyName: 'k' },
      'client up',
    );
    if (++turn < TURNS) return void setTimeout(step, 0);
    const cpu = process.cpuUsage(before);
    process.stderr.write(`${(cpu.user + cpu.system) / TURNS}\n`);
  };
  step();
}

const mode = process.argv[2] as Mode | undefined;
if (mode) measure(mode);
else {
  const out = join(tmpdir(), `sb-log-cost-${process.pid}.log`);
  const perTurn = new Map<Mode, number>();
  for (const m of Object.keys(MODES) as Mode[]) {
    const fd = openSync(out, 'w');
    const run = spawnSync(process.execPath, [fileURLToPath(import.meta.url), m], { stdio: ['ignore', fd, 'pipe'] });
    closeSync(fd);
    perTurn.set(m, Number(run.stderr.toString().trim()));
  }
  rmSync(out, { force: true });
  const empty = perTurn.get('none')!;
  console.log(`an empty turn: ${empty.toFixed(1)} µs of CPU`);
  for (const [m, us] of perTurn) if (m !== 'none') console.log(`${m}: ${(us - empty).toFixed(1)} µs of CPU per line`);
}
