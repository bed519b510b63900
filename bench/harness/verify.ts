/**
 * Checks a count a workload must produce (events a handler received, tokens streamed) right after the
 * awaited call: events that arrived later, or never, would mean the libraries compared do not do the same
 * work, and the times would be meaningless.
 *
 * @throws {Error} naming the workload when the count differs.
 */
export function expectCount(what: string, actual: number, expected: number): void {
  if (actual !== expected) throw new Error(`Verification failed: ${what}: expected ${expected}, got ${actual}.`);
}
