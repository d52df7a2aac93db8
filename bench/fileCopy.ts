import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { addKey, runCli, startClient, startServer, tempDir, type Proc } from '../test/helpers/harness.js';
import { patternStream, startForwardProc } from '../test/helpers/sb.js';
import { startSshd } from '../test/helpers/sshd.js';
import { median, round, turn } from './stats.js';

export interface FileCopyResult {
  mb: number;
  repeats: number;
  /** Median MB/s of each way, and Switchboard's over scp's (above 1: `control cp` is faster). */
  upload: { cpMBps: number; scpMBps: number; ratio: number };
  download: { cpMBps: number; scpMBps: number; ratio: number };
}

/**
 * `control cp` against `scp` through a `control forward` to a real sshd on the client's side: the
 * same file, the same server and client processes, the two tools taking turns so that a machine that
 * drifts during the run drifts for both. Each figure is one whole command as a user runs it (process
 * start, login or session setup, the copy, the SHA-256 check or scp's MAC), timed by wall clock.
 */
export async function runFileCopyBench(
  mb: number,
  repeats: number,
  log: (line: string) => void,
): Promise<FileCopyResult> {
  const dir = tempDir('sb-bench-files-');
  const procs: Proc[] = [];
  const sshd = await startSshd(dir.path);
  try {
    const remote = join(dir.path, 'remote');
    mkdirSync(remote);
    const server = await startServer(join(dir.path, 'data'));
    procs.push(server.proc);
    const key = await addKey(server.data, 'bench');
    procs.push(
      await startClient([
        '--gateway',
        server.address,
        '--key',
        key,
        '--name',
        'bench-files',
        '--state',
        join(dir.path, 'state'),
        '--allow-files',
        remote,
        '--allow-forward',
        String(sshd.port),
      ]),
    );
    const forward = await startForwardProc(server.address, key, 'bench-files', sshd.port);
    procs.push(forward.proc);
    const source = join(dir.path, 'source.bin');
    await pipeline(patternStream(mb * 1024 * 1024), createWriteStream(source));

    const timed = async (what: string, run: () => Promise<{ code: number | null; stderr: string }>) => {
      const started = process.hrtime.bigint();
      const result = await run();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (result.code !== 0) throw new Error(`${what} failed: ${result.stderr.slice(-1000)}`);
      return mb / seconds;
    };
    const cp = (from: string, to: string) =>
      runCli(['control', '--gateway', server.address, '--key', key, 'cp', from, to], { timeoutMs: 600_000 });
    const ways = {
      upload: {
        cp: () => timed('cp upload', () => cp(source, 'bench-files:cp-up.bin')),
        scp: () => timed('scp upload', () => sshd.scp(forward.port, source, `remote:${join(remote, 'scp-up.bin')}`)),
      },
      download: {
        cp: () => timed('cp download', () => cp('bench-files:cp-up.bin', join(dir.path, 'cp-down.bin'))),
        scp: () =>
          timed('scp download', () =>
            sshd.scp(forward.port, `remote:${join(remote, 'scp-up.bin')}`, join(dir.path, 'scp-down.bin')),
          ),
      },
    };
    const samples = {
      upload: { cp: [] as number[], scp: [] as number[] },
      download: { cp: [] as number[], scp: [] as number[] },
    };
    for (let r = 0; r < repeats; r++) {
      for (const way of ['upload', 'download'] as const) {
        for (const tool of turn<'cp' | 'scp'>(['cp', 'scp'], r)) {
          const rate = await ways[way][tool]();
          samples[way][tool].push(rate);
          log(`  ${way} ${tool} ${round(rate, 1)} MB/s`);
        }
      }
      for (const f of ['cp-down.bin', 'scp-down.bin']) rmSync(join(dir.path, f), { force: true });
    }
    const figures = (way: 'upload' | 'download') => {
      const cpMBps = round(median(samples[way].cp), 1);
      const scpMBps = round(median(samples[way].scp), 1);
      return { cpMBps, scpMBps, ratio: round(cpMBps / scpMBps, 2) };
    };
    return { mb, repeats, upload: figures('upload'), download: figures('download') };
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    await sshd.stop();
    dir.remove();
  }
}
