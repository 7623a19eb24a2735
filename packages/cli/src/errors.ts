/** The CLI's one error: a message and a hint, printed without a stack unless STEPWISE_DEBUG is set. */
export class CLIError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "CLIError";
  }
}
