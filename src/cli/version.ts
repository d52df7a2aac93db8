/** The version every entry point prints (the `switchboard` CLI and the single-file agent). */
export const VERSION = '0.2.0';
