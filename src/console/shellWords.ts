/**
 * Splits a command line into words the way a POSIX shell quotes them, and nothing more: the console
 * runs the words as argv, with no shell, so whatever a shell would expand (variables, globs, pipes,
 * redirections, command substitution) is refused rather than passed on as text the operator did not
 * mean. Quoted, those characters are plain text, as in a shell.
 *
 *   'single quotes'   everything literal up to the next '
 *   "double quotes"   literal, except \" \\ \$ \` (a backslash before anything else stays)
 *   \x                outside quotes: x itself
 *
 * So `sh -c "echo 'a b' | wc -c"` gives ["sh", "-c", "echo 'a b' | wc -c"], as a shell would.
 */
export type ShellWords = { ok: true; words: string[] } | { ok: false; error: string };

/** Unquoted, a shell would give these a meaning of their own; inside double quotes, only $ and `. */
const SPECIAL = new Set(['|', '&', ';', '<', '>', '(', ')', '$', '`', '*', '?', '[']);
/** Special only at the start of a word: a comment and the home directory. */
const SPECIAL_AT_START = new Set(['#', '~']);

export const SHELL_WORDS_HINT =
  'words split as a shell quotes them (\'…\', "…", \\); no shell runs, so | ; & > < $ * ? unquoted are refused: for those, run sh -c "…"';

export function shellWords(line: string): ShellWords {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  const refuse = (c: string, at: number): ShellWords => ({
    ok: false,
    error: `"${c}" at column ${at + 1} would mean something to a shell, and none runs here: quote it, or run sh -c '…'`,
  });
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return { ok: false, error: `the ' at column ${i + 1} is never closed` };
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        const d = line[j]!;
        if (d === '\\' && j + 1 < line.length && '"\\$`'.includes(line[j + 1]!)) word += line[++j];
        else if (d === '$' || d === '`') return refuse(d, j);
        else word += d;
      }
      if (j >= line.length) return { ok: false, error: `the " at column ${i + 1} is never closed` };
      inWord = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 >= line.length) return { ok: false, error: 'the line ends with a lone \\' };
      word += line[++i];
      inWord = true;
    } else if (SPECIAL.has(c) || (!inWord && SPECIAL_AT_START.has(c))) {
      return refuse(c, i);
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return { ok: true, words };
}
