import { readFileSync } from 'node:fs';
import { BIN } from '../test/helpers/harness.js';

/**
 * The node flags Switchboard ships with: those on bin/switchboard.js's shebang
 * (`#!/usr/bin/env -S node --initial-old-space-size=64`). The benchmarks start `node FLAGS BIN`
 * directly (the shebang is not read then), so they take the flags from there, and a bare baseline
 * server is started with the same ones: both sides get the same heap configuration.
 */
export function shippedNodeFlags(): string[] {
  const first = readFileSync(BIN, 'utf8').split('\n', 1)[0] ?? '';
  const words = first.replace(/^#!/, '').trim().split(/\s+/);
  return words.filter((w) => w.startsWith('--'));
}
