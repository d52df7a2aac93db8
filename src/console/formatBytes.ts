// Shared by the console (served as is) and the CLI progress bar: it must import nothing.
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** `1.5 KiB`: sizes for people, in the page. */
export function formatBytes(n: number): string {
  let unit = 0;
  while (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  return `${unit === 0 ? n : n.toFixed(1)} ${UNITS[unit]}`;
}
