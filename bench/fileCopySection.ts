import { runFileCopyBench } from './fileCopy.js';
import { table } from './stats.js';

/** The `file-copy` section of `npm run bench`: its own size, since every sample is a whole copy to disk. */
export async function fileCopySection(
  quick = process.argv.includes('--quick'),
): Promise<{ json: unknown; text: string }> {
  const result = await runFileCopyBench(quick ? 64 : 512, quick ? 1 : 3, (line) => process.stderr.write(line + '\n'));
  const row = (way: 'upload' | 'download') => [way, result[way].cpMBps, result[way].scpMBps, result[way].ratio];
  const text = [
    `File copy: control cp against scp over control forward to sshd, ${result.mb} MB, median of ${result.repeats} (MB/s; ratio > 1: cp faster)`,
    table(['way', 'control cp', 'scp over forward', 'cp / scp'], [row('upload'), row('download')]),
  ].join('\n');
  return { json: result, text };
}
