import { readFileSync } from 'node:fs';

/**
 * CPU time (user + system, in milliseconds) a process has used so far, from /proc on Linux;
 * undefined elsewhere. Sampled before and after a transfer, it tells which relay burns the CPU.
 */
export function cpuMs(pid: number): number | undefined {
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
