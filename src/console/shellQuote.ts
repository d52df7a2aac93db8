/** Words a POSIX shell takes as they are: no quoting, globbing, expansion or word splitting applies. */
const PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * One word for a POSIX shell command line, whatever the text holds: plain words as they are (so a
 * command stays readable), anything else in single quotes, inside which nothing is special but the
 * quote itself, written as '\''. A client's name like `db-01; touch /tmp/x; #` then reaches the
 * program as one argument, and runs nothing.
 */
export function shellQuote(text: string): string {
  if (PLAIN.test(text)) return text;
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
