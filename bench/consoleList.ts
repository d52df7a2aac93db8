import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { addOperator, request } from '../test/helpers/api.js';
import { freePortOn } from '../test/helpers/cluster.js';
import { addKey, runCli, tempDir } from '../test/helpers/harness.js';
import { ownCpuMs } from './cpuTime.js';
import { runGenerators } from './generators.js';
import { SwitchboardProcess } from './processes.js';
import type { ServerInfo } from '../src/protocol/messages.js';
import type { Section } from './scaleSections.js';

/**
 * Issue 20: the console's Clients tab with a large fleet, in Debian's chromium against a real
 * cluster. `clients` real clients (bench/connectGenerator.js processes) are placed by a primary on
 * members of at most 15,000 each (a process may open 20,000 files here), an admin logs
 * in, and Chromium's long-task observer records every main-thread task over 50 ms: while the list
 * loads (page by page), then while `arrivals` more clients connect as fast as the server takes
 * them (each one a live client-up event) and the list is scrolled meanwhile, and then while all of
 * those leave at once (their generator killed: a burst of client-down events the server does not
 * pace, thousands a second), then while a member is cut off from the primary (SIGSTOP until the
 * primary drops its link and its clients) and comes back (SIGCONT: it re-links and lists all its
 * clients again at once, the fastest arrivals the console sees, none of them reconnecting), and last
 * while the clients of a member killed with -9 leave at once and come back elsewhere (returns with
 * resume tickets: the fastest reconnections a fleet makes).
 */
export interface ConsoleListResult {
  clients: number;
  arrivals: number;
  connectSeconds: number;
  /** GET /api/v1/clients, everything in one answer, and one page of 1,000. */
  fullListMs: number;
  fullListMB: number;
  pageMs: number;
  loadSeconds: number;
  loadLongTasks: TaskFigures;
  arrivalsPerSecond: number;
  arrivalSeconds: number;
  arrivalLongTasks: TaskFigures;
  /** Chromium's CPU while clients arrived (scrolling included): % of one core, and ms per arrival. */
  chromiumCpuPercent: number;
  chromiumCpuMsPerArrival: number;
  /** The renderer processes' share (the page's main thread, its compositor and raster threads). */
  rendererCpuPercent: number;
  /** Chromium's CPU while the list only scrolled (no arrivals), just before: the baseline. */
  scrollingCpuPercent: number;
  scrollingRendererCpuPercent: number;
  /** Per arrival, with the scrolling baseline taken off: what the live updates cost. */
  netCpuMsPerArrival: number;
  netRendererCpuMsPerArrival: number;
  /** The arrivals all leaving at once (their generator killed): every client-down shown after this long. */
  departureSeconds: number;
  departuresPerSecond: number;
  /** Chromium's CPU while they left (scrolling included), per departure: all processes, and the renderers. */
  departureCpuMsPerDeparture: number;
  departureRendererCpuMsPerDeparture: number;
  departureLongTasks: TaskFigures;
  /**
   * A member killed (-9) with the list open: its clients leave at once and come back through the
   * primary to the other members (with resume tickets) as fast as they can. How many it held, the
   * time until all are listed again, the rate they came back at, and the long tasks meanwhile.
   */
  memberLoss: { clients: number; seconds: number; returnsPerSecond: number; longTasks: TaskFigures };
  /**
   * A member cut off (SIGSTOP) until the primary drops its link and its clients, then resumed: it
   * re-links and sends its whole list, listed again in a burst (no client reconnects). How many it
   * held, how long they took to be shown gone, then all listed again after resuming, at what rate,
   * and the long tasks from the cut to the end.
   */
  memberRelink: { clients: number; goneSeconds: number; seconds: number; perSecond: number; longTasks: TaskFigures };
  /** Rows in the DOM with every client listed (the window, not the fleet). */
  domRows: number;
}

interface TaskFigures {
  count: number;
  longestMs: number;
  over200ms: number;
  totalMs: number;
}

const CHROMIUM = '/usr/bin/chromium';

/** Chromium's CPU so far (ms), all its processes, and the renderers' (the page's main thread and its helpers) apart. */
interface ChromiumCpu {
  all: number;
  renderer: number;
}

/** Every descendant of `pid` (Chromium forks a zygote, which forks the renderers). */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    /* gone */
  }
  return children.flatMap((c) => [c, ...descendants(c)]);
}

/**
 * The CPU time chromium (all its processes) has used so far: unlike the wall-clock length of long
 * tasks, this does not grow when other processes of a busy machine hold the cores.
 */
function chromiumCpuMs(): ChromiumCpu {
  const sum = { all: 0, renderer: 0 };
  for (const pid of descendants(process.pid)) {
    try {
      // Debian's /usr/bin/chromium is a launcher script that execs /usr/lib/chromium/chromium; its
      // helpers rewrite their command line as one string ("chromium --type=renderer ..."), so the
      // name comes from comm.
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'chromium') continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const own = ownCpuMs(pid) ?? 0;
      sum.all += own;
      if (cmdline.includes('--type=renderer')) sum.renderer += own;
    } catch {
      /* gone */
    }
  }
  return sum;
}
const round2 = (n: number) => Math.round(n * 100) / 100;
/** How long the list is scrolled with no arrivals, to measure Chromium's CPU for the scrolling alone. */
const SCROLL_BASELINE_MS = 10_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits until the page lists `n` clients, or says what it lists instead. */
async function shown(page: Page, n: number): Promise<void> {
  const count = page.locator('.count');
  try {
    await count.filter({ hasText: `${n} of ${n}` }).waitFor({ timeout: 120_000 });
  } catch {
    throw new Error(`the page did not list ${n} clients within 120 s: it shows "${await count.textContent()}"`);
  }
}

const TRACE_MS = 5000;
/** Chromium's own timeline (style, layout, paint, script, event dispatch) for `ms`, written to `path`. */
async function traceFor(browser: Browser, page: Page, path: string, ms: number): Promise<string> {
  await browser.startTracing(page, {
    path,
    categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'blink', 'cc', 'toplevel'],
  });
  await sleep(ms);
  await browser.stopTracing();
  return path;
}

function figures(durations: number[]): TaskFigures {
  return {
    count: durations.length,
    longestMs: Math.round(Math.max(0, ...durations)),
    over200ms: durations.filter((d) => d > 200).length,
    totalMs: Math.round(durations.reduce((a, b) => a + b, 0)),
  };
}

/** A server that dies during the run says so at once (the run would otherwise stall until a timeout). */
function reportDeath(server: SwitchboardProcess, name: string, log: (line: string) => void): void {
  server.child.once('exit', (code, signal) => {
    if (!stopping && !killedOnPurpose.has(server))
      log(`  ${name} exited (${code ?? signal}); stderr: ${server.stderrTail.slice(-1500)}`);
  });
}
let stopping = false;
/** The member the bench kills itself: its exit is the measurement, not a failure. */
const killedOnPurpose = new Set<SwitchboardProcess>();

/** Clients per member: under the 20,000 files a process may open here (the hard limit). */
const PER_MEMBER = 15_000;

/**
 * A primary of weight 0 (it places every client, holds none, and serves the console with the whole
 * cluster's directory) and as many members as `total` clients need, on 127.0.93.x.
 */
async function startCluster(
  dir: string,
  total: number,
  servers: SwitchboardProcess[],
  log: (line: string) => void,
): Promise<{ address: string; key: string }> {
  const members = Math.max(1, Math.ceil(total / PER_MEMBER));
  const hosts = Array.from({ length: members + 1 }, (_, i) => `127.0.93.${i + 1}`);
  const port = await freePortOn(hosts);
  const [primary, ...memberAddresses] = hosts.map((h) => `${h}:${port}`) as [string, ...string[]];
  const data = join(dir, 'primary');
  const secretFile = join(dir, 'cluster.secret');
  writeFileSync(secretFile, `bench-console-secret-${Math.random().toString(36).slice(2)}-0123456789\n`, {
    mode: 0o600,
  });
  const key = await addKey(data, 'bench');
  await addOperator(data, 'admin', 'admin-password', 'admin');
  for (const args of [
    ['set', 'primary-weight', '0'],
    ...memberAddresses.map((m) => ['server', 'add', m, '--weight', '1000']),
  ]) {
    const r = await runCli(['config', '--data', data, ...args]);
    if (r.code !== 0) throw new Error(`config ${args.join(' ')}: ${r.stderr}`);
  }
  const cluster = ['--cluster-secret-file', secretFile];
  const first = new SwitchboardProcess([
    'server',
    '--data',
    data,
    '--role',
    'primary',
    '--listen',
    primary,
    '--advertise',
    primary,
    ...cluster,
  ]);
  servers.push(first);
  reportDeath(first, 'the primary', log);
  await first.waitForLine((l) => l.msg === 'listening', 'the primary listening');
  for (const [i, m] of memberAddresses.entries()) {
    const member = new SwitchboardProcess([
      'server',
      '--data',
      join(dir, `member-${i}`),
      '--role',
      'member',
      '--primary',
      primary,
      '--listen',
      m,
      '--advertise',
      m,
      ...cluster,
    ]);
    servers.push(member);
    reportDeath(member, `member ${m}`, log);
    await member.waitForLine((l) => l.msg === 'configuration replicated', `member ${m} linked`, 120_000);
  }
  log(`  a primary and ${members} members on ${hosts[0]}...`);
  return { address: primary, key };
}

/** The member with the most clients (not the primary at `primary`), and its process. */
async function busiestMember(servers: SwitchboardProcess[], primary: string, token: string) {
  const rows = (await request(primary, 'GET', 'servers', undefined, { token })).body as ServerInfo[];
  const row = rows.filter((r) => r.address !== primary).sort((a, b) => b.clients - a.clients)[0]!;
  return { row, process: servers.find((p) => p.child.spawnargs.includes(row.address))! };
}

/**
 * Stops the busiest member (SIGSTOP) until the page shows its clients gone (the primary drops them
 * when the member's link has been silent for 10 s), then resumes it and times the page until it
 * lists all `total` again: the member re-links and reports its whole list at once.
 */
async function cutOffAndBack(
  page: Page,
  servers: SwitchboardProcess[],
  primary: string,
  token: string,
  total: number,
  takeTasks: () => Promise<number[]>,
): Promise<ConsoleListResult['memberRelink']> {
  const { row, process: member } = await busiestMember(servers, primary, token);
  await takeTasks();
  const cutAt = Date.now();
  member.child.kill('SIGSTOP');
  try {
    await shown(page, total - row.clients);
  } finally {
    member.child.kill('SIGCONT');
  }
  const resumedAt = Date.now();
  await shown(page, total);
  const seconds = (Date.now() - resumedAt) / 1000;
  return {
    clients: row.clients,
    goneSeconds: Math.round((resumedAt - cutAt) / 100) / 10,
    seconds: Math.round(seconds * 10) / 10,
    perSecond: Math.round(row.clients / seconds),
    longTasks: figures(await takeTasks()),
  };
}

export async function runConsoleList(opts: {
  clients: number;
  arrivals: number;
  processes: number;
  /** Generator processes and connections in progress for the arrivals (default 2 and 400). */
  arrivalProcesses?: number;
  arrivalConcurrency?: number;
  /** Write a performance trace (chrome://tracing JSON) of the first seconds of arrivals to this file. */
  trace?: string;
  /** Write the page's CPU profile (CDP Profiler, .cpuprofile) while clients arrive to this file. */
  profile?: string;
  log: (line: string) => void;
}): Promise<ConsoleListResult> {
  const dir = tempDir('sb-bench-console-');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  const generators: { stop(): Promise<void> }[] = [];
  const servers: SwitchboardProcess[] = [];
  try {
    const { address, key } = await startCluster(dir.path, opts.clients + opts.arrivals, servers, opts.log);
    const connectStart = Date.now();
    const fleet = await runGenerators(
      {
        kind: 'switchboard',
        target: address,
        key,
        count: opts.clients,
        processes: opts.processes,
        concurrency: 200,
        prefix: 'pc',
      },
      1_200_000,
    );
    generators.push(fleet);
    const connectSeconds = (Date.now() - connectStart) / 1000;
    opts.log(`  ${opts.clients} clients connected in ${connectSeconds.toFixed(1)} s`);

    const token = (await request(address, 'POST', 'login', { operator: 'admin', password: 'admin-password' })).body
      .token as string;
    let t = performance.now();
    const full = await request(address, 'GET', 'clients', undefined, { token });
    const fullListMs = performance.now() - t;
    t = performance.now();
    await request(address, 'GET', 'clients?limit=1000', undefined, { token });
    const pageMs = performance.now() - t;

    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await page.addInitScript(() => {
      const w = window as unknown as { longTasks: number[] };
      w.longTasks = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) w.longTasks.push(e.duration);
      }).observe({ type: 'longtask', buffered: true });
    });
    page.on('pageerror', (err) => opts.log(`  the page: ${err.message}`));
    // (A 401 is the login page asking whether a session exists yet.)
    page.on(
      'console',
      (m) => m.type() === 'error' && !/status of 401/.test(m.text()) && opts.log(`  the page's console: ${m.text()}`),
    );
    await page.goto(`http://${address}/console/`);
    await page.fill('input[name=operator]', 'admin');
    await page.fill('input[name=password]', 'admin-password');
    const loadStart = Date.now();
    await page.click('form.login button[type=submit]');
    await page.locator('.count', { hasText: `${opts.clients} of ${opts.clients}` }).waitFor({ timeout: 300_000 });
    const loadSeconds = (Date.now() - loadStart) / 1000;
    const domRows = await page.locator('#clients tr[data-id]').count();
    const takeTasks = () =>
      page.evaluate(() => {
        const w = window as unknown as { longTasks: number[] };
        const tasks = w.longTasks;
        w.longTasks = [];
        return tasks;
      });
    const loadTasks = await takeTasks();
    opts.log(`  the list of ${opts.clients} loaded in ${loadSeconds.toFixed(1)} s; ${domRows} rows in the DOM`);

    // The operator scrolls throughout: first alone (the baseline of Chromium's CPU), then while clients arrive.
    let scrolling = true;
    const scroller = (async () => {
      for (let i = 0; scrolling; i++) {
        await page.locator('.list-viewport').evaluate((el, n) => (el.scrollTop = (n * 7919 * 37) % el.scrollHeight), i);
        await sleep(250);
      }
    })().catch(() => undefined); // the page closed: the step that failed says why
    const quietStart = Date.now();
    const quietBefore = chromiumCpuMs();
    await sleep(SCROLL_BASELINE_MS);
    const quietAfter = chromiumCpuMs();
    const quietSeconds = (Date.now() - quietStart) / 1000;
    await takeTasks();

    const profiler = opts.profile ? await page.context().newCDPSession(page) : undefined;
    if (profiler) {
      await profiler.send('Profiler.enable');
      await profiler.send('Profiler.setSamplingInterval', { interval: 500 });
      await profiler.send('Profiler.start');
    }
    const arrivalStart = Date.now();
    const cpuBefore = chromiumCpuMs();
    const traced = opts.trace ? traceFor(browser, page, opts.trace, TRACE_MS) : undefined;
    const arrivals = await runGenerators(
      {
        kind: 'switchboard',
        target: address,
        key,
        count: opts.arrivals,
        processes: opts.arrivalProcesses ?? 2,
        concurrency: opts.arrivalConcurrency ?? 400,
        prefix: 'new',
      },
      1_200_000,
    );
    generators.push(arrivals);
    const total = opts.clients + opts.arrivals;
    await shown(page, total);
    const arrivalSeconds = (Date.now() - arrivalStart) / 1000;
    const cpuAfter = chromiumCpuMs();
    const arrivalTasks = await takeTasks();
    if (traced) opts.log(`  a performance trace of the first ${TRACE_MS / 1000} s of arrivals: ${await traced}`);
    if (profiler && opts.profile) {
      const { profile } = await profiler.send('Profiler.stop');
      writeFileSync(opts.profile, JSON.stringify(profile));
      await profiler.detach();
      opts.log(`  the page's CPU profile while they arrived: ${opts.profile}`);
    }
    /** Chromium's CPU per second of scrolling alone, subtracted from the arrivals' window to leave their own cost. */
    const scrollRate = {
      all: (quietAfter.all - quietBefore.all) / quietSeconds,
      renderer: (quietAfter.renderer - quietBefore.renderer) / quietSeconds,
    };
    const arrivalCpu = { all: cpuAfter.all - cpuBefore.all, renderer: cpuAfter.renderer - cpuBefore.renderer };
    opts.log(
      `  ${opts.arrivals} arrivals at ${Math.round(arrivals.perSecond)}/s, all shown after ${arrivalSeconds.toFixed(1)} s`,
    );

    // A burst the server does not throttle: the arrivals' generator dies, its clients all leave at once.
    const burstStart = Date.now();
    const burstCpuBefore = chromiumCpuMs();
    await arrivals.stop();
    await shown(page, opts.clients);
    const departureSeconds = (Date.now() - burstStart) / 1000;
    const burstCpuAfter = chromiumCpuMs();
    const departureTasks = await takeTasks();

    // A member cut off, then back: its whole list arrives at once when it re-links.
    const memberRelink = await cutOffAndBack(page, servers, address, token, opts.clients, takeTasks);
    opts.log(
      `  a member with ${memberRelink.clients} clients cut off: shown gone after ${memberRelink.goneSeconds} s; resumed, all listed again after ${memberRelink.seconds} s (${memberRelink.perSecond}/s)`,
    );

    // A member lost: the live arrival rate of a fleet's returns, faster than first placements.
    const { row: victim, process: victimProcess } = await busiestMember(servers, address, token);
    const lossStart = Date.now();
    killedOnPurpose.add(victimProcess);
    await victimProcess.stop('SIGKILL');
    // The count falls (the primary drops the member's clients when its link goes), then climbs back.
    await page
      .waitForFunction(
        (n) => Number(/^\d+/.exec(document.querySelector('.count')?.textContent ?? '')?.[0] ?? n) < n,
        opts.clients,
        { timeout: 60_000 },
      )
      .catch(() => undefined);
    const returnsStart = Date.now();
    await shown(page, opts.clients);
    const lossSeconds = (Date.now() - lossStart) / 1000;
    const memberLoss = {
      clients: victim.clients,
      seconds: Math.round(lossSeconds * 10) / 10,
      returnsPerSecond: Math.round(victim.clients / ((Date.now() - returnsStart) / 1000)),
      longTasks: figures(await takeTasks()),
    };
    opts.log(
      `  a member with ${victim.clients} clients killed: all listed again after ${memberLoss.seconds} s (${memberLoss.returnsPerSecond}/s once gone)`,
    );
    scrolling = false;
    await scroller;
    return {
      clients: opts.clients,
      arrivals: opts.arrivals,
      connectSeconds: Math.round(connectSeconds * 10) / 10,
      fullListMs: Math.round(fullListMs),
      fullListMB: Math.round((full.text.length / 2 ** 20) * 10) / 10,
      pageMs: Math.round(pageMs),
      loadSeconds: Math.round(loadSeconds * 10) / 10,
      loadLongTasks: figures(loadTasks),
      arrivalsPerSecond: Math.round(arrivals.perSecond),
      arrivalSeconds: Math.round(arrivalSeconds * 10) / 10,
      arrivalLongTasks: figures(arrivalTasks),
      chromiumCpuPercent: Math.round(arrivalCpu.all / arrivalSeconds / 10),
      chromiumCpuMsPerArrival: round2(arrivalCpu.all / opts.arrivals),
      rendererCpuPercent: Math.round(arrivalCpu.renderer / arrivalSeconds / 10),
      scrollingCpuPercent: Math.round(scrollRate.all / 10),
      scrollingRendererCpuPercent: Math.round(scrollRate.renderer / 10),
      netCpuMsPerArrival: round2((arrivalCpu.all - scrollRate.all * arrivalSeconds) / opts.arrivals),
      netRendererCpuMsPerArrival: round2((arrivalCpu.renderer - scrollRate.renderer * arrivalSeconds) / opts.arrivals),
      departureSeconds: Math.round(departureSeconds * 10) / 10,
      departuresPerSecond: Math.round(opts.arrivals / departureSeconds),
      departureRendererCpuMsPerDeparture: round2((burstCpuAfter.renderer - burstCpuBefore.renderer) / opts.arrivals),
      departureCpuMsPerDeparture: round2((burstCpuAfter.all - burstCpuBefore.all) / opts.arrivals),
      departureLongTasks: figures(departureTasks),
      memberLoss,
      memberRelink,
      domRows,
    };
  } finally {
    stopping = true;
    await browser.close();
    await Promise.all(generators.map((g) => g.stop()));
    await Promise.all(servers.map((server) => server.stop('SIGKILL')));
    dir.remove();
  }
}

export async function consoleListSection(quick: boolean, log: (line: string) => void): Promise<Section> {
  log('console client list:');
  const r = await runConsoleList({
    clients: quick ? 5000 : 60_000,
    arrivals: quick ? 2000 : 10_000,
    processes: quick ? 1 : 4,
    log,
  });
  const tasks = (f: TaskFigures) => `${f.count} over 50 ms, longest ${f.longestMs} ms, ${f.over200ms} over 200 ms`;
  return {
    key: 'consoleList',
    json: r,
    lines: [
      `Console Clients tab (chromium, long-task observer): ${r.clients} real clients on a primary and members, then ${r.arrivals} arrivals`,
      `  GET /api/v1/clients: all ${r.clients} in ${r.fullListMs} ms (${r.fullListMB} MB); one page of 1000 in ${r.pageMs} ms`,
      `  list loaded in ${r.loadSeconds} s, ${r.domRows} rows in the DOM; long tasks while loading: ${tasks(r.loadLongTasks)}`,
      `  ${r.arrivals} arrivals at ${r.arrivalsPerSecond}/s (all shown after ${r.arrivalSeconds} s), scrolling meanwhile; long tasks: ${tasks(r.arrivalLongTasks)}`,
      `  chromium's CPU meanwhile (all its processes, scrolling included): ${r.chromiumCpuPercent} % of one core (renderer ${r.rendererCpuPercent} %), ${r.chromiumCpuMsPerArrival} ms per arrival`,
      `  scrolling alone just before: ${r.scrollingCpuPercent} % (renderer ${r.scrollingRendererCpuPercent} %); net of it, ${r.netCpuMsPerArrival} ms per arrival (renderer ${r.netRendererCpuMsPerArrival} ms)`,
      `  then all ${r.arrivals} leave at once: shown gone after ${r.departureSeconds} s (${r.departuresPerSecond}/s); long tasks: ${tasks(r.departureLongTasks)}; chromium's CPU ${r.departureCpuMsPerDeparture} ms per departure (renderer ${r.departureRendererCpuMsPerDeparture} ms)`,
      `  then a member with ${r.memberRelink.clients} clients is cut off (SIGSTOP): shown gone after ${r.memberRelink.goneSeconds} s; resumed, all listed again after ${r.memberRelink.seconds} s (${r.memberRelink.perSecond}/s); long tasks: ${tasks(r.memberRelink.longTasks)}`,
      `  then a member with ${r.memberLoss.clients} clients is killed: all listed again after ${r.memberLoss.seconds} s, returning at ${r.memberLoss.returnsPerSecond}/s; long tasks: ${tasks(r.memberLoss.longTasks)}`,
    ],
  };
}

/**
 * Run alone at any size: `node dist/bench/consoleList.js [CLIENTS] [ARRIVALS] [ARRIVAL_PROCESSES]
 * [ARRIVAL_CONCURRENCY] [--profile=FILE.cpuprofile] [--trace=FILE.json]` (npm run bench -- --only console-list runs
 * 60,000 and 10,000).
 */
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [clients = 60_000, arrivals = 10_000, arrivalProcesses = 2, arrivalConcurrency = 400] = process.argv
    .slice(2)
    .filter((a) => !a.startsWith('--'))
    .map(Number);
  const option = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const profile = option('profile');
  const trace = option('trace');
  const log = (line: string) => process.stdout.write(line + '\n');
  runConsoleList({
    clients,
    arrivals,
    processes: Math.max(1, Math.ceil(clients / 15_000)),
    arrivalProcesses,
    arrivalConcurrency,
    profile,
    trace,
    log,
  }).then(
    (r) => log(JSON.stringify(r, null, 2)),
    (err: Error) => {
      log(`failed: ${err.message}`);
      process.exitCode = 1;
    },
  );
}
