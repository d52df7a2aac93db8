import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fairness, jainIndex } from '../bench/fairness.js';
import { shippedNodeEnv, shippedNodeFlags } from '../bench/processes.js';

test("Jain's fairness index: 1 when all sessions get the same, 1/n when one gets everything", () => {
  assert.equal(jainIndex([5, 5, 5, 5]), 1);
  assert.equal(jainIndex([8, 0, 0, 0]), 0.25);
  assert.equal(jainIndex([0, 0]), 1);
  const f = fairness([1, 2, 3, 4, 10]);
  assert.deepEqual([f.minMBps, f.medianMBps, f.maxMBps, f.minOverMedian], [1, 3, 10, 0.33]);
});

test('the benchmarks start Switchboard with the node flags and environment of the shipped bin', () => {
  const flags = shippedNodeFlags();
  assert.ok(
    flags.every((f) => f.startsWith('--') && !f.includes('switchboard')),
    `flags read from bin/switchboard.js: ${flags.join(' ')}`,
  );
  assert.ok(
    Object.keys(shippedNodeEnv()).every((name) => /^[A-Z_]+$/.test(name)),
    `environment read from bin/switchboard.js: ${JSON.stringify(shippedNodeEnv())}`,
  );
  // They are read from the shebang, whatever it says: a bin with other flags gives those.
  const dir = mkdtempSync(join(tmpdir(), 'sb-shebang-'));
  try {
    const bin = join(dir, 'bin.js');
    writeFileSync(bin, "#!/usr/bin/env -S node --max-old-space-size=99 --stack-size=500\nimport './x.js';\n");
    assert.deepEqual(shippedNodeFlags(bin), ['--max-old-space-size=99', '--stack-size=500']);
    assert.deepEqual(shippedNodeEnv(bin), {});
    writeFileSync(bin, '#!/usr/bin/env -S A_B=1 MALLOC_X_=2=3 node --stack-size=500\n');
    assert.deepEqual(shippedNodeFlags(bin), ['--stack-size=500']);
    assert.deepEqual(shippedNodeEnv(bin), { A_B: '1', MALLOC_X_: '2=3' });
    writeFileSync(bin, '#!/usr/bin/env node\n');
    assert.deepEqual(shippedNodeFlags(bin), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
