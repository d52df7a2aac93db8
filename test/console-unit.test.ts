/**
 * The console's pure parts: the weight share against the share of clients, and the forward
 * command it shows.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { ServerInfo } from '../src/console/api.js';
import { shares } from '../src/console/shares.js';
import { splitAddress } from '../src/console/serverTableSection.js';

const row = (address: string, weight: number, clients: number, extra: Partial<ServerInfo> = {}): ServerInfo => ({
  address,
  role: 'member',
  weight,
  enabled: true,
  secondary: false,
  status: 'up',
  clients,
  sessions: 0,
  ...extra,
});

test('weight share counts only servers that take clients; client share counts every client', () => {
  const result = shares([
    row('a:1', 900, 1),
    row('b:1', 300, 3),
    row('c:1', 800, 4, { enabled: false }),
    row('d:1', 500, 0, { status: 'down' }),
  ]);
  assert.deepEqual(
    result.map((s) => [s.address, s.weight, s.clients]),
    [
      ['a:1', 0.75, 0.125],
      ['b:1', 0.25, 0.375],
      ['c:1', 0, 0.5],
      ['d:1', 0, 0],
    ],
  );
  assert.deepEqual(shares([row('a:1', 0, 0)]), [{ address: 'a:1', weight: 0, clients: 0 }]);
});

test('shares always add up to 1 (or 0 when nothing to share)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ weight: fc.nat(1000), clients: fc.nat(1000), enabled: fc.boolean() }), { maxLength: 10 }),
      (rows) => {
        const result = shares(rows.map((r, i) => row(`s${i}:1`, r.weight, r.clients, { enabled: r.enabled })));
        for (const key of ['weight', 'clients'] as const) {
          const sum = result.reduce((n, s) => n + s[key], 0);
          assert.ok(sum === 0 || Math.abs(sum - 1) < 1e-9, `${key} sums to ${sum}`);
        }
      },
    ),
  );
});

test('a server address splits into host and port for the dialog', () => {
  assert.deepEqual(splitAddress('10.0.0.2:443'), { host: '10.0.0.2', port: '443' });
  assert.deepEqual(splitAddress('[::1]:8443'), { host: '[::1]', port: '8443' });
});
