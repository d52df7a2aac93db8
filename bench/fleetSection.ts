import { runFleetBench } from './fleet.js';
import type { Section } from './scaleSections.js';
import { table } from './stats.js';

/** `npm run bench --only fleet`: 12,000 clients on each of five servers (1,000 with --quick), then kill -9 of the primary. */
export async function fleetSection(quick: boolean, log: (line: string) => void): Promise<Section> {
  log('fleet:');
  const r = await runFleetBench(quick ? 1000 : 12_000, quick ? 10 : 60, log);
  return {
    key: 'fleet',
    json: r,
    lines: [
      `Fleet: ${r.clients} clients (${r.perServer} per server, ${r.generatorProcesses} generator processes), load average ${r.loadAverageAtStart} at the start`,
      table(
        ['all browsable ms', 'full browse ms', `one page (${r.pageSize}) ms`],
        [[r.allBrowsableMs ?? 'not measured', r.fullBrowseMs, r.onePageMs]],
      ),
      `After kill -9 of the primary (load average ${r.loadAverageAtKill}; ${r.onPrimaryAtKill} clients were on it)`,
      table(
        ['all back ms', 'members linked ms', 'browsable at 10 s', 'connected at 10 s', 'lost', 'target ms'],
        [
          [
            r.failoverAllBrowsableMs ?? 'not in 120 s',
            r.failoverMembersLinkedMs ?? 'not in 120 s',
            r.browsableAt10s,
            r.connectedAt10s,
            r.lost,
            r.targetMs,
          ],
        ],
      ),
      table(
        ['server', 'role', 'clients', 'RSS MB', 'placement CPU s', `quiet CPU % (${r.quietSeconds} s)`],
        r.servers.map((s) => [s.address, s.role, s.clients, s.rssMB, s.placementCpuS, s.quietCpuPercent]),
      ),
    ],
  };
}
