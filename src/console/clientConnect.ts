import { api, type Client, type Me } from './api.js';
import { field, openDialog } from './dialog.js';
import { h } from './dom.js';
import { sessionLinks } from './sessionLinks.js';
import { shellQuote } from './shellQuote.js';
import { SHELL_WORDS_HINT, shellWords } from './shellWords.js';

/** A local port for a remote one: the same, unless that needs root to bind (then 10000 above it). */
export function localPortFor(port: number): number {
  return port < 1024 ? port + 10_000 : port;
}

/**
 * The command an operator runs to reach a client's port: shown, not run, by the console, but pasted
 * into a shell. Every value is quoted (a client chooses its own name), and `--` ends the options, so
 * a name that starts with a dash is still the client's name. A server with a certificate is reached
 * in TLS, trusted by its key pin (which survives renewals), so a copied command never speaks plain HTTP.
 */
export function forwardCommand(gateway: string, me: Me, client: Client, port: number | undefined): string {
  const ports = port === undefined ? 'LOCAL_PORT:REMOTE_PORT' : `${localPortFor(port)}:${port}`;
  const target = me.tlsPin
    ? `${shellQuote(`https://${gateway}`)} --tls-fingerprint ${shellQuote(me.tlsPin)}`
    : shellQuote(gateway);
  return `switchboard control --gateway ${target} --key-file KEYFILE --operator ${shellQuote(me.operator)} --password-env SB_PASSWORD forward -- ${shellQuote(client.name)} 127.0.0.1:${ports}`;
}

function execPanel(client: Client): HTMLElement {
  const command = h('input', { name: 'command', value: 'uname -a', 'aria-label': 'command' });
  const output = h('pre', { class: 'output', 'aria-live': 'polite' });
  const run = h('button', { type: 'submit' }, 'Run');
  const form = h('form', { class: 'exec' }, field('Run a short command', command, SHELL_WORDS_HINT), run, output);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const parsed = shellWords(command.value);
    if (!parsed.ok) return void (output.textContent = `not run: ${parsed.error}`);
    const argv = parsed.words;
    if (!argv.length) return;
    output.textContent = 'running…';
    run.disabled = true;
    api<{ stdout: string; stderr: string; code: number | null; truncated: boolean; timedOut: boolean }>(
      'POST',
      '/exec',
      { client: client.id, command: argv },
    )
      .then(
        (r) => {
          const status = r.timedOut
            ? 'timed out'
            : `exit code ${r.code ?? '—'}${r.truncated ? ' (output cut at 64 KiB)' : ''}`;
          output.textContent = `${r.stdout.replace(/\n$/, '')}${r.stderr ? `\n[stderr]\n${r.stderr}` : ''}\n[${status}]`;
        },
        (err: Error) => (output.textContent = `error: ${err.message}`),
      )
      .finally(() => (run.disabled = false));
  });
  return form;
}

export function connectDialog(me: Me, client: Client): void {
  const ports: (number | undefined)[] = client.allowForward.length ? client.allowForward : [undefined];
  const commands = ports.map((p) => h('pre', { class: 'command' }, forwardCommand(location.host, me, client, p)));
  openDialog(
    `Connect to ${client.name}`,
    [
      h(
        'p',
        {},
        client.allowForward.length
          ? `Ports this client allows: ${client.allowForward.join(', ')}. Forward one to this machine with:`
          : 'This client allows no port forwards (its --allow-forward list is empty). When it does:',
      ),
      commands,
      sessionLinks(client),
      // The client's web page through the server's proxy (webPage.ts).
      client.allowForward.length
        ? h(
            'p',
            {},
            h(
              'a',
              {
                href: `#/web/${encodeURIComponent(client.id)}`,
                id: 'web-page-link',
                onclick: (e: Event) => (e.target as HTMLElement).closest('dialog')?.close(),
              },
              'Open a web page of this client in the browser…',
            ),
          )
        : null,
      client.allowExec
        ? execPanel(client)
        : h('p', { class: 'muted' }, 'This client does not allow commands (--allow-exec).'),
    ],
    [{ label: 'Close' }],
  );
}
