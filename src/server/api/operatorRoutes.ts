import QRCode from 'qrcode';
import { credentialStamp } from '../credentialStamp.js';
import type { Principal } from './authenticate.js';
import { Reply, type ApiDeps, type Route } from './route.js';
import { OperatorBody, OperatorPatchBody } from './schemas.js';

/** An otpauth:// URI as an SVG QR code in a data URL: the console shows it in an <img>, no markup injected. */
export async function qrDataUrl(uri: string): Promise<string> {
  const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}

/** Operator accounts (admins): add, change role, keys or password, enrol TOTP, remove. */
export function operatorRoutes(deps: ApiDeps): Route[] {
  const as = (call: { who: { operator: { name: string } } }) => deps.configAs(call.who.operator.name);
  /**
   * Every other login of an operator whose password or TOTP changed ends (its credential stamp no
   * longer matches); the session that made that change to its own operator goes on with the new stamp.
   */
  const restampOwn = (call: { who: Principal }, name: string) => {
    const changed = name === call.who.operator.name ? deps.ctx.store.operatorSecrets(name) : undefined;
    if (changed) call.who.session.stamp = credentialStamp(changed);
  };
  return [
    {
      method: 'GET',
      path: '/operators',
      access: 'admin',
      handle: (call) => as(call).operators(),
    },
    {
      method: 'POST',
      path: '/operators',
      access: 'admin',
      async handle(call) {
        const body = await call.body(OperatorBody);
        const op = await as(call).addOperator(body);
        // Re-adding an existing name replaces its password: its old sessions must not outlive that.
        if (body.name !== call.who.operator.name) deps.sessions.endOperator(body.name);
        restampOwn(call, body.name);
        return new Reply(201, op);
      },
    },
    {
      method: 'PUT',
      path: '/operators/:name',
      access: 'admin',
      async handle(call) {
        const name = call.params.name!;
        const patch = await call.body(OperatorPatchBody);
        const op = await as(call).updateOperator(name, patch);
        if (patch.password !== undefined && name !== call.who.operator.name) deps.sessions.endOperator(name);
        restampOwn(call, name);
        return op;
      },
    },
    {
      method: 'POST',
      path: '/operators/:name/totp',
      access: 'admin',
      async handle(call) {
        const { uri } = await as(call).enrolTotp(call.params.name!);
        restampOwn(call, call.params.name!);
        return { uri, qr: await qrDataUrl(uri) };
      },
    },
    {
      method: 'DELETE',
      path: '/operators/:name',
      access: 'admin',
      async handle(call) {
        await as(call).removeOperator(call.params.name!);
        deps.sessions.endOperator(call.params.name!);
        return new Reply(204);
      },
    },
  ];
}
