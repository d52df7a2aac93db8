/**
 * A message channel between two servers. The cluster logic talks to this, never to a socket
 * library, so it can be tested over an in-memory pair and the transport can change.
 */
export interface Link {
  readonly remoteAddress: string;
  send(message: object): void;
  close(code: number, reason: string): void;
  onMessage(handler: (data: unknown) => void): void;
  onClose(handler: (code: number, reason: string) => void): void;
  /**
   * What ties the link's proofs to its own connection: the TLS session's exported keying material
   * (RFC 5705), the same at both ends only when no one terminates TLS between them; '' in plain.
   */
  channelBinding(): string;
}
