/**
 * The last TOTP time step accepted for each operator, so that a code (seen over a shoulder, or
 * replayed from a captured login) works once: a code of that step or an earlier one is refused.
 * In memory on the server that checks logins (the acting primary); after a failover the new
 * acting server has not seen the codes used on the old one, so a code can be used once more
 * there within its 30-90 s window. Bounded by the number of operators whose password was right.
 */
export class UsedTotpSteps {
  private readonly last = new Map<string, number>();

  /** True, and remembered, when `step` is later than every step accepted for this operator. */
  accept(operator: string, step: number): boolean {
    const previous = this.last.get(operator);
    if (previous !== undefined && step <= previous) return false;
    this.last.set(operator, step);
    return true;
  }
}
