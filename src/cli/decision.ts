// What a steering command (cordon, promote, pause, resume, abort, retry, approve) decides from the
// object as read, and the one way it is carried out: a patch to send, nothing to do, or a refusal a
// person can act on. The decisions are pure; carryOut does the saying and the writing.

export type Decision<P> =
  /** Send `patch`; say `done` once it is accepted. */
  | { kind: 'patch'; patch: P; done: string }
  /** Already so: nothing to send (exit 0). */
  | { kind: 'noop'; message: string }
  /** Not possible now, and why (exit 1). */
  | { kind: 'refuse'; message: string };

interface Say {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/**
 * Says why nothing is sent (exit 0) or why it is refused (exit 1); otherwise, once `allowed` (a
 * person's confirmation, for what cannot be undone) says yes, sends the patch and says it is done.
 */
export async function carryOut<P>(decision: Decision<P>, io: Say, send: (patch: P) => Promise<unknown>, allowed?: () => Promise<boolean>): Promise<number> {
  if (decision.kind === 'noop') {
    io.stdout.write(`${decision.message}\n`);
    return 0;
  }
  if (decision.kind === 'refuse') {
    io.stderr.write(`error: ${decision.message}\n`);
    return 1;
  }
  if (allowed && !(await allowed())) return 1;
  await send(decision.patch);
  io.stdout.write(`${decision.done}\n`);
  return 0;
}
