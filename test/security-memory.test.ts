/**
 * docs/security.md, "A stranger fills the server's memory": no request without credentials can add
 * to what the server keeps. The console's files are a fixed set read at start; asking for 20,000
 * different missing names (each 8 KB long) adds nothing. Before, every miss was remembered: ~165 MB
 * of heap for these requests, never freed, so a server with a 128 MB heap died of it.
 * Pending placements, whose ids a key holder picks, are capped too.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MAX_PENDING_PLACEMENTS, PendingPlacements } from '../src/cluster/placement.js';
import { ConsoleFiles } from '../src/server/consoleFiles.js';
import { request, seriesValue } from './helpers/api.js';
import { startServer, tempDir, type RunningServer } from './helpers/harness.js';
import { processAlive, stopAll } from './helpers/sb.js';

const dir = tempDir('sb-sec-memory-');
let server: RunningServer | undefined;

after(async () => {
  if (server) await stopAll([server.proc]);
  dir.remove();
});

const REQUESTS = 20_000;
const NAME_LENGTH = 8_000;
/** What the requests may leave behind, at most (garbage not yet collected, allocator slack). Today's code: ~165 MB. */
const MAX_HEAP_GROWTH = 48 * 1024 * 1024;
const HEAP = 'switchboard_nodejs_heap_size_used_bytes';

async function heapUsed(address: string): Promise<number> {
  const value = seriesValue((await request(address, 'GET', '/metrics')).text, HEAP);
  assert.ok(value !== undefined, `${HEAP} is not in /metrics`);
  return value;
}

/** A fake response that records what serve() answers. */
function recorder(): { res: http.ServerResponse; status: () => number } {
  let status = 0;
  const res = { writeHead: (s: number) => ((status = s), res), end: () => res } as unknown as http.ServerResponse;
  return { res, status: () => status };
}

test('console files are read once at start: asking for missing names adds nothing', () => {
  const files = mkdtempSync(join(tmpdir(), 'sb-console-files-'));
  writeFileSync(join(files, 'index.html'), '<!doctype html>');
  writeFileSync(join(files, 'app.js'), 'export {};');
  writeFileSync(join(files, 'notes.txt'), 'not a console file type');
  const served = new ConsoleFiles([files]);
  assert.equal(served.size, 2);
  const get = { method: 'GET' } as http.IncomingMessage;
  for (let i = 0; i < 1000; i++) {
    const r = recorder();
    served.serve(get, r.res, `missing-${i}.js`);
    assert.equal(r.status(), 404);
  }
  const found = recorder();
  served.serve(get, found.res, 'app.js');
  assert.equal(found.status(), 200);
  assert.equal(served.size, 2, 'a miss is never remembered');
});

test('pending placements (ids chosen by key holders) are capped: the oldest are forgotten first', () => {
  assert.ok(MAX_PENDING_PLACEMENTS >= 10_000, 'room for a real reconnect storm');
  const pending = new PendingPlacements(15_000, 1000);
  for (let i = 0; i < 5000; i++) pending.add(`id-${i}`, i % 2 ? 'a:1' : 'b:1', 0);
  assert.equal(pending.size, 1000);
  assert.equal(pending.count('a:1') + pending.count('b:1'), 1000, 'the per-server counts follow');
  assert.equal(pending.serverOf('id-0'), undefined);
  assert.equal(pending.serverOf('id-4999'), 'a:1');
});

test(
  '20,000 requests for distinct missing console files do not grow the heap of a real server',
  { timeout: 300_000 },
  async (t) => {
    // A 128 MB old space: what today's code kept for these requests (~165 MB) does not fit in it.
    server = await startServer(join(dir.path, 'data'), [], { NODE_OPTIONS: '--max-old-space-size=128' });
    const { address } = server;
    const [host, port] = [
      address.slice(0, address.lastIndexOf(':')),
      Number(address.slice(address.lastIndexOf(':') + 1)),
    ];
    assert.equal((await request(address, 'GET', '/console/index.html')).status, 200);
    const before = await heapUsed(address);

    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const filler = 'a'.repeat(NAME_LENGTH);
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      while (next < REQUESTS) {
        const i = next++;
        const status = await new Promise<number>((resolve, reject) => {
          const req = http.get({ host, port, path: `/console/${filler}${i}.js`, agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
        });
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    };
    try {
      await Promise.all(Array.from({ length: 16 }, worker));
    } finally {
      agent.destroy();
    }
    assert.deepEqual([...statuses], [[404, REQUESTS]], 'every request is a plain 404');

    assert.ok(processAlive(server.proc.child.pid!), 'the server is still running');
    assert.equal((await request(address, 'GET', '/console/index.html')).status, 200, 'the console is still served');
    // Heap used counts garbage not yet collected: take the lowest of a few readings a moment apart.
    let least = Infinity;
    for (let i = 0; i < 5; i++) {
      least = Math.min(least, await heapUsed(address));
      await new Promise((r) => setTimeout(r, 500));
    }
    const growth = least - before;
    t.diagnostic(`heap used: ${(before / 1048576).toFixed(1)} MB before, ${(least / 1048576).toFixed(1)} MB after`);
    assert.ok(
      growth < MAX_HEAP_GROWTH,
      `heap grew ${(growth / 1048576).toFixed(1)} MB over ${REQUESTS} requests (at most ${MAX_HEAP_GROWTH / 1048576} MB)`,
    );
  },
);
