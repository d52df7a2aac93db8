import { ErrorCodes, fromWireError, SwitchboardError } from '../protocol/errors.js';
import {
  openReply,
  RPC_PATH,
  RpcCalls,
  RpcReply,
  signRequest,
  verifyReply,
  type RpcMethod,
  type RpcParams,
  type RpcResult,
} from '../protocol/clusterRpc.js';
import { postJson, type DialOptions } from '../net/dial.js';

/** How long a call to another server may take, connection included. */
const RPC_TIMEOUT_MS = 3000;

export interface ClusterRpcClientOptions {
  /** The shared secret servers of one cluster prove to each other; without it no call is made. */
  secret: string | undefined;
  /** Whether this server speaks TLS (it serves TLS, or links to its primary in TLS): it calls in TLS. */
  tls: boolean;
  /** This server's advertised address, the `from` of its requests (known once it listens). */
  from(): string;
  /** This server's key pin, sent with every call: the callee learns it as vouched by the secret. */
  pin?(): string | undefined;
  /** Test-only fault hook: calls to these addresses fail as if the network were cut. */
  blocked(address: string): boolean;
}

/**
 * The calling end of the signed one-shot calls between servers (protocol/clusterRpc.ts): it signs
 * the request, checks that the reply proves the secret over the request's nonce, opens its sealed
 * result and parses it against the call's schema. A refusal comes back as a SwitchboardError whose
 * code is checked against ours.
 */
export class ClusterRpcClient {
  constructor(private readonly options: ClusterRpcClientOptions) {}

  async call<M extends RpcMethod>(address: string, method: M, params: RpcParams<M>): Promise<RpcResult<M>> {
    const { secret } = this.options;
    if (!secret) throw new SwitchboardError(ErrorCodes.NOT_IN_CLUSTER, 'this server has no cluster secret');
    if (this.options.blocked(address))
      throw new SwitchboardError(ErrorCodes.UNREACHABLE, `${address} is cut off (fault hook)`);
    const pin = this.options.pin?.();
    const request = signRequest(secret, method, pin ? { ...params, pin } : params, this.options.from(), Date.now());
    const { body } = await this.post(address, request);
    const reply = RpcReply.safeParse(body);
    if (!reply.success || !verifyReply(secret, request.nonce, reply.data))
      throw new SwitchboardError(ErrorCodes.CLUSTER_AUTH, `${address} did not prove the cluster secret`);
    if (reply.data.error) throw fromWireError(reply.data.error);
    let result: unknown;
    try {
      result = openReply(secret, request.nonce, reply.data);
    } catch {
      throw new SwitchboardError(
        ErrorCodes.CLUSTER_AUTH,
        `${address} sent a reply that does not open with the cluster secret`,
      );
    }
    const parsed = RpcCalls[method].result.safeParse(result);
    if (!parsed.success)
      throw new SwitchboardError(ErrorCodes.BAD_MESSAGE, `${address} answered ${method} with an unexpected result`);
    return parsed.data as RpcResult<M>;
  }

  /**
   * Posts a signed request. A server that speaks TLS calls in TLS: in a TLS cluster the target may
   * take nothing else (`--tls-only`). No certificate is pinned: each server may have its own, the
   * cluster secret, which signs request and reply, authenticates both ends, and the reply's result
   * is sealed under it (a man in the middle reads no snapshot). A target that turns out not to
   * speak TLS is called again in plain.
   */
  private async post(address: string, request: object): Promise<{ status: number; body: unknown }> {
    const post = (dial: DialOptions) => postJson(address, RPC_PATH, request, dial, RPC_TIMEOUT_MS);
    if (!this.options.tls) return post({ tls: false });
    try {
      return await post({ tls: true, insecure: true });
    } catch (err) {
      if ((err as SwitchboardError).code !== ErrorCodes.TLS_MISMATCH) throw err;
      return post({ tls: false });
    }
  }
}
