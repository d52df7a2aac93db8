/** What a cluster role is told when it is built (src/cli/serverCommand.ts). */
export interface ClusterOptions {
  secret: string;
  /** For members: the primary's address, as configured. */
  primary?: string;
}
