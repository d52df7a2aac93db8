/**
 * Characters a terminal may act on rather than show: C0 controls and DEL (ESC starts an escape
 * sequence, BEL rings), C1 controls (U+009B is a one-character CSI on many terminals), and the
 * bidirectional overrides and isolates, which reorder what is shown around them.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_BUT_LAYOUT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function escape(char: string): string {
  const code = char.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * Text that others chose (a client's name, group or platform, a server's error message) as the CLI
 * prints it for people: every character a terminal could act on is shown as an escape (`\x1b`), so
 * a name cannot clear the screen, retitle the window or fake a line. One line stays one line.
 * JSON output needs none of this: JSON.stringify escapes control characters itself.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, escape);
}

/** The same for a message of several lines: newlines and tabs are kept, as layout. */
export function printableLines(text: string): string {
  return text.replace(UNSAFE_BUT_LAYOUT, escape);
}
