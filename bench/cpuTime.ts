import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time (user + system, in milliseconds) a process and its live descendants have used so far,
 * from /proc on Linux; undefined elsewhere. Sampled before and after a transfer, it tells which
 * relay burns the CPU. Descendants count because `node bin/switchboard.js` runs Switchboard in a
 * child when started without its node settings (src/cli/nodeRuntime.ts).
 */
export function cpuMs(pid: number): number | undefined {
  const own = ownCpuMs(pid);
  if (own === undefined) return undefined;
  return childrenOf(pid).reduce((sum, child) => sum + (cpuMs(child) ?? 0), own);
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** One process's own CPU time (ms), its children not included. */
export function ownCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** USER_HZ is 100 on every mainstream Linux build. */
const CLOCK_TICKS = 100;

export function cpuSnapshot(pids: number[]): (number | undefined)[] {
  return pids.map(cpuMs);
}

export function cpuDelta(before: (number | undefined)[], after: (number | undefined)[]): number[] | undefined {
  if (before.some((v) => v === undefined) || after.some((v) => v === undefined)) return undefined;
  return after.map((v, i) => v! - before[i]!);
}
