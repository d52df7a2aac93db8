import type http from 'node:http';
import { ErrorCodes, toWireError } from '../protocol/errors.js';
import { parseCall, RpcRequest, SeenNonces, signReply, verifyRequest, type RpcCall } from '../protocol/clusterRpc.js';
import { decode, MAX_MESSAGE_BYTES } from '../protocol/messages.js';
import { jsonReply } from './jsonReply.js';
import type { Logger } from './logger.js';

export interface ClusterRpcServerOptions {
  /** The cluster secret; a server without one answers every call 404. */
  secret: string | undefined;
  logger: Logger;
  /** Test-only fault hook: requests from these addresses are refused as if the network were cut. */
  blocked(address: string): boolean;
  /** The role's answer to a verified call (RoleBehaviour.rpc). */
  answer(call: RpcCall): Promise<unknown>;
  /** A verified caller's key pin (sent with its call): vouched for by the cluster secret. */
  learnPin?(from: string, pin: string): void;
}

/**
 * The answering end of the signed calls between servers (POST /v1/cluster/rpc): the request
 * verified (secret, age, nonce not seen before), its parameters parsed against the call's schema,
 * answered by the role, and the reply signed and its result sealed. Unauthenticated input reaches
 * this far, so whatever goes wrong answers 400, never throws.
 */
export class ClusterRpcServer {
  /** Nonces of cluster requests already answered: a replay is refused. */
  private readonly nonces = new SeenNonces();

  constructor(private readonly options: ClusterRpcServerOptions) {}

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const { secret } = this.options;
    if (!secret || req.method !== 'POST')
      return jsonReply(res, 404, { error: { code: ErrorCodes.NOT_IN_CLUSTER, message: 'not a cluster server' } });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > MAX_MESSAGE_BYTES) req.destroy();
    });
    req.on('end', () => {
      try {
        this.answer(secret, req, res, body);
      } catch (err) {
        this.options.logger.warn(
          { peer: req.socket.remoteAddress, err: (err as Error).message },
          'cluster request refused',
        );
        jsonReply(res, 400, { error: { code: ErrorCodes.BAD_MESSAGE, message: 'malformed cluster request' } });
      }
    });
  }

  private answer(secret: string, req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const parsed = decode(RpcRequest, body);
    if (!parsed.ok) return jsonReply(res, 400, { error: { code: ErrorCodes.BAD_MESSAGE, message: parsed.error } });
    const request = parsed.value;
    const now = Date.now();
    let refusal = verifyRequest(secret, request, now);
    if (!refusal && !this.nonces.first(request.nonce, now)) refusal = 'request replayed (nonce already used)';
    if (refusal || this.options.blocked(request.from)) {
      this.options.logger.warn(
        { peer: req.socket.remoteAddress, from: request.from, reason: refusal ?? 'fault hook' },
        'cluster request refused',
      );
      return jsonReply(res, 403, { error: { code: ErrorCodes.CLUSTER_AUTH, message: refusal ?? 'cut off' } });
    }
    const reply = (answer: { result: unknown } | { error: ReturnType<typeof toWireError> }) =>
      jsonReply(res, 200, signReply(secret, request.nonce, answer));
    // Signed by a holder of the secret, yet parsed all the same: the role sees only typed parameters.
    const { pin, ...params } = request.params;
    if (typeof pin === 'string') this.options.learnPin?.(request.from, pin);
    const call = parseCall(request.method, params, request.from);
    if (!call)
      return reply({
        error: { code: ErrorCodes.BAD_MESSAGE, message: `${request.method}: parameters do not fit the call` },
      });
    this.options.answer(call).then(
      (result) => reply({ result }),
      (err: unknown) => reply({ error: toWireError(err) }),
    );
  }
}
