import type { ControlClient } from '../control/controlClient.js';
import { DEFAULT_MAX_OUTPUT, MAX_PARALLEL, runOnMany, succeeded, type HostRun } from '../control/multiExec.js';
import { looksLikeClientId } from '../protocol/clientIdentity.js';
import { runsJson, runsTable, summaryOf } from './multiExecTable.js';

export interface MultiExecFlags {
  group?: string;
  parallel: number;
  json?: boolean;
}

/** `--parallel N`: a whole number from 1 to MAX_PARALLEL (the server's budgets would refuse more). */
export function parseParallel(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PARALLEL)
    throw new Error(`--parallel must be a whole number from 1 to ${MAX_PARALLEL}, not ${text}`);
  return n;
}

/**
 * `exec --group G [CLIENT...] -- CMD`: the clients of the group and those named, each once, in the
 * order of the browse (names first as given). An unknown name stops everything before anything runs.
 */
async function chooseClients(control: ControlClient, named: string[], group: string | undefined) {
  const all = await control.browse();
  const chosen = new Map<string, { id: string; name: string }>();
  for (const wanted of named) {
    // The server's rule (Directory.resolve): text shaped like an id is never taken for a name.
    const matches = all.filter((c) => c.id === wanted || (!looksLikeClientId(wanted) && c.name === wanted));
    if (matches.length === 0) throw new Error(`no client ${wanted}`);
    if (matches.length > 1) throw new Error(`${matches.length} clients are named ${wanted}; use the id`);
    chosen.set(matches[0]!.id, matches[0]!);
  }
  if (group !== undefined) {
    const members = all.filter((c) => c.group === group);
    if (members.length === 0 && named.length === 0) throw new Error(`no connected client in group ${group}`);
    for (const c of members) chosen.set(c.id, c);
  }
  return [...chosen.values()].map((c) => ({ id: c.id, name: c.name }));
}

/**
 * Runs the command on every chosen client and reports: on a terminal, a table redrawn as results
 * come in; otherwise the table once at the end (or one JSON document with --json). The exit status
 * is 0 only if every client ran the command and it exited with 0.
 */
export async function multiExec(
  control: ControlClient,
  named: string[],
  command: string[],
  flags: MultiExecFlags,
  out: NodeJS.WriteStream = process.stdout,
): Promise<number> {
  const clients = await chooseClients(control, named, flags.group);
  const live = out.isTTY && !flags.json;
  let runs: HostRun[] = [];
  let drawnLines = 0;
  let pending: NodeJS.Timeout | undefined;
  const draw = () => {
    pending = undefined;
    const text = `${runsTable(runs, out.columns)}\n${summaryOf(runs)}`;
    // Up to the first row of the previous drawing, clear to the end, draw again.
    out.write(`${drawnLines ? `\x1b[${drawnLines}F\x1b[J` : ''}${text}\n`);
    drawnLines = text.split('\n').length;
  };
  // Redraws at most ten times a second: a thousand clients printing must not flood the terminal.
  const scheduleDraw = () => {
    if (live && !pending) pending = setTimeout(draw, 100);
  };
  const done = runOnMany(control, clients, command, {
    parallel: flags.parallel,
    maxOutputBytes: DEFAULT_MAX_OUTPUT,
    onChange: (_run, all) => {
      runs = [...all];
      scheduleDraw();
    },
  });
  runs = await done;
  if (pending) clearTimeout(pending);
  if (flags.json) out.write(runsJson(command, runs));
  else if (live) draw();
  else out.write(`${runsTable(runs)}\n${summaryOf(runs)}\n`);
  return runs.every(succeeded) ? 0 : 1;
}

/**
 * `exec`'s words: the clients before `--`, the command after. Without `--`, the first word is the one
 * client and the rest the command (the old form, `exec CLIENT CMD...`); with --group and no `--`,
 * every word is the command (`exec --group web uptime`).
 */
export function splitExecWords(words: string[], group: boolean): { targets: string[]; command: string[] } {
  const at = words.indexOf('--');
  if (at >= 0) return { targets: words.slice(0, at), command: words.slice(at + 1) };
  if (group) return { targets: [], command: words };
  return { targets: words.slice(0, 1), command: words.slice(1) };
}
