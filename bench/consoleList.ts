import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { addOperator, request } from '../test/helpers/api.js';
import { addKey, tempDir } from '../test/helpers/harness.js';
import { runGenerators } from './generators.js';
import { SwitchboardProcess } from './processes.js';
import type { Section } from './scaleSections.js';

/**
 * Issue 20: the console's Clients tab with a large fleet, in Debian's chromium against a real
 * server. `clients` real clients (bench/connectGenerator.js processes) connect to one standalone
 * server (its file limit raised with prlimit, as a service unit's LimitNOFILE would), an admin logs
 * in, and Chromium's long-task observer records every main-thread task over 50 ms: while the list
 * loads (page by page), then while `arrivals` more clients connect as fast as the server takes
 * them (each one a live client-up event) and the list is scrolled meanwhile, and then while all of
 * those leave at once (their generator killed: a burst of client-down events the server does not
 * pace, thousands a second).
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
  /** The arrivals all leaving at once (their generator killed): every client-down shown after this long. */
  departureSeconds: number;
  departuresPerSecond: number;
  departureLongTasks: TaskFigures;
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
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function figures(durations: number[]): TaskFigures {
  return {
    count: durations.length,
    longestMs: Math.round(Math.max(0, ...durations)),
    over200ms: durations.filter((d) => d > 200).length,
    totalMs: Math.round(durations.reduce((a, b) => a + b, 0)),
  };
}

export async function runConsoleList(opts: {
  clients: number;
  arrivals: number;
  processes: number;
  log: (line: string) => void;
}): Promise<ConsoleListResult> {
  const dir = tempDir('sb-bench-console-');
  const data = join(dir.path, 'data');
  const key = await addKey(data, 'bench');
  await addOperator(data, 'admin', 'admin-password', 'admin');
  const server = new SwitchboardProcess(['server', '--data', data, '--listen', '127.0.0.1:0']);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  const generators: { stop(): Promise<void> }[] = [];
  try {
    const address = (await server.waitForLine((l) => l.msg === 'listening', 'the server listening')).address as string;
    // One socket per client: more than the default 20,000 files.
    const files = opts.clients + opts.arrivals + 10_000;
    execFileSync('prlimit', ['--pid', String(server.child.pid), `--nofile=${files}:${files}`]);

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

    // Arrivals while the operator scrolls.
    let scrolling = true;
    const scroller = (async () => {
      for (let i = 0; scrolling; i++) {
        await page.locator('.list-viewport').evaluate((el, n) => (el.scrollTop = (n * 7919 * 37) % el.scrollHeight), i);
        await sleep(250);
      }
    })();
    const arrivalStart = Date.now();
    const arrivals = await runGenerators(
      {
        kind: 'switchboard',
        target: address,
        key,
        count: opts.arrivals,
        processes: 2,
        concurrency: 400,
        prefix: 'new',
      },
      1_200_000,
    );
    generators.push(arrivals);
    const total = opts.clients + opts.arrivals;
    await page.locator('.count', { hasText: `${total} of ${total}` }).waitFor({ timeout: 120_000 });
    const arrivalSeconds = (Date.now() - arrivalStart) / 1000;
    const arrivalTasks = await takeTasks();
    opts.log(
      `  ${opts.arrivals} arrivals at ${Math.round(arrivals.perSecond)}/s, all shown after ${arrivalSeconds.toFixed(1)} s`,
    );

    // A burst the server does not throttle: the arrivals' generator dies, its clients all leave at once.
    const burstStart = Date.now();
    await arrivals.stop();
    await page.locator('.count', { hasText: `${opts.clients} of ${opts.clients}` }).waitFor({ timeout: 120_000 });
    const departureSeconds = (Date.now() - burstStart) / 1000;
    scrolling = false;
    await scroller;
    const departureTasks = await takeTasks();
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
      departureSeconds: Math.round(departureSeconds * 10) / 10,
      departuresPerSecond: Math.round(opts.arrivals / departureSeconds),
      departureLongTasks: figures(departureTasks),
      domRows,
    };
  } finally {
    await browser.close();
    await Promise.all(generators.map((g) => g.stop()));
    await server.stop('SIGKILL');
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
      `Console Clients tab (chromium, long-task observer): ${r.clients} real clients on one server, then ${r.arrivals} arrivals`,
      `  GET /api/v1/clients: all ${r.clients} in ${r.fullListMs} ms (${r.fullListMB} MB); one page of 1000 in ${r.pageMs} ms`,
      `  list loaded in ${r.loadSeconds} s, ${r.domRows} rows in the DOM; long tasks while loading: ${tasks(r.loadLongTasks)}`,
      `  ${r.arrivals} arrivals at ${r.arrivalsPerSecond}/s (all shown after ${r.arrivalSeconds} s), scrolling meanwhile; long tasks: ${tasks(r.arrivalLongTasks)}`,
      `  then all ${r.arrivals} leave at once: shown gone after ${r.departureSeconds} s (${r.departuresPerSecond}/s); long tasks: ${tasks(r.departureLongTasks)}`,
    ],
  };
}
