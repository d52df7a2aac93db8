import { ErrorCodes, type WireError } from '../protocol/errors.js';

/**
 * The pure half of confining a `files` session to the client's --allow-files directory: the path a
 * control asks for must be relative and never climb. This refuses `../x`, `/etc/passwd`, `C:\x` and
 * `a/../../x` by their text; symlinks that lead out are refused by the session itself (fileSession.ts),
 * on the file it actually opened.
 */
export function checkRelativePath(path: string): WireError | undefined {
  const refuse = (why: string): WireError => ({
    code: ErrorCodes.POLICY_REFUSED,
    message: `path ${JSON.stringify(path.slice(0, 200))} ${why}`,
  });
  if (path.includes('\0')) return refuse('holds a NUL byte');
  if (path.startsWith('/') || path.startsWith('\\') || /^[A-Za-z]:/.test(path))
    return refuse('is absolute; paths are relative to the allowed directory');
  if (path.split(/[/\\]/).includes('..')) return refuse('climbs out with ..; paths stay inside the allowed directory');
  return undefined;
}

/** The path's parts, without empty and `.` ones: `a//b/./c` is `a/b/c`, and `''` or `.` the directory itself. */
export function pathParts(path: string): string[] {
  return path.split(/[/\\]/).filter((p) => p !== '' && p !== '.');
}
