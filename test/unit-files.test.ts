// Unit tests of the pure parts of `control cp`: the client's path check, the CLI's reading of its
// arguments, and the progress line. No sockets, no processes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeClientFlags, parseClientConfig } from '../src/cli/clientConfigFile.js';
import { formatBytes, progressLine } from '../src/cli/progressBar.js';
import { checkPolicy } from '../src/client/policy.js';
import { checkRelativePath, pathParts } from '../src/client/filePaths.js';
import { parseCopy } from '../src/control/copy.js';

test('checkRelativePath: relative paths inside pass; absolute, `..` and NUL are refused', () => {
  for (const ok of ['', '.', 'a.txt', 'sub/a.txt', './sub//a.txt', 'a..b', '..a', 'sub/.hidden'])
    assert.equal(checkRelativePath(ok), undefined, ok);
  for (const bad of ['..', '../x', 'sub/../../x', 'a/..', '/etc/passwd', '\\x', 'C:\\x', 'c:x', 'sub\\..\\x', 'a\0b'])
    assert.equal(checkRelativePath(bad)?.code, 'SB_ERR_POLICY_REFUSED', bad);
  assert.deepEqual(pathParts('./sub//a.txt'), ['sub', 'a.txt']);
  assert.deepEqual(pathParts('.'), []);
});

test('checkPolicy: files only with --allow-files, and only relative paths that do not climb', () => {
  const none = { allowForward: new Set<number>(), allowExec: true };
  const files = { ...none, allowFiles: '/srv/drop' };
  const target = (path: string) => ({ kind: 'files' as const, op: 'get' as const, path });
  assert.match(checkPolicy(none, target('a'))!.message, /--allow-files DIR/);
  assert.equal(checkPolicy(files, target('a')), undefined);
  assert.equal(checkPolicy(files, target('../a'))?.code, 'SB_ERR_POLICY_REFUSED');
});

test('parseCopy: one side on a client, read as scp reads it', () => {
  assert.deepEqual(parseCopy('./a:b', 'laptop:dir/'), { op: 'put', local: './a:b', client: 'laptop', path: 'dir/' });
  assert.deepEqual(parseCopy('laptop:x.bin', '/tmp/y'), {
    op: 'get',
    client: 'laptop',
    path: 'x.bin',
    local: '/tmp/y',
  });
  assert.deepEqual(parseCopy('a', 'laptop:'), { op: 'put', local: 'a', client: 'laptop', path: '' });
  assert.throws(() => parseCopy('a', 'b'), /cp LOCAL CLIENT:PATH or cp CLIENT:PATH LOCAL/);
  assert.throws(() => parseCopy('one:a', 'two:b'), /between here and one client/);
});

test('progressLine: bar, percent, sizes and rate', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(
    progressLine('big.bin', 50 * 1024 * 1024, 200 * 1024 * 1024, 1000, 8),
    'big.bin  [##------]  25%  50.0 MiB / 200.0 MiB  50.0 MiB/s',
  );
  assert.match(progressLine('empty', 0, 0, 0, 4), /\[####\] 100%/);
});

test('client config file: allow-files is a path, taken from the file directory when relative', () => {
  assert.equal(parseClientConfig('/etc/sb/client.toml', 'allow-files = "drop"\n')['allow-files'], '/etc/sb/drop');
  assert.equal(
    mergeClientFlags({}, parseClientConfig('/x/c.toml', 'allow-files = "/srv/in"\n'), {}).allowFiles,
    '/srv/in',
  );
  assert.throws(() => parseClientConfig('/x/c.toml', 'allow-files = 3\n'), /key "allow-files"/);
});
