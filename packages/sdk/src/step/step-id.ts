/** A step's id: a string, or `{ id, name }` where `name` is shown in place of the id. */
export type StepIdInput = string | { id: string; name?: string };

export function readStepId(input: StepIdInput, tool: string): { id: string; displayName?: string } {
  const id = typeof input === "string" ? input : input?.id;
  if (typeof id !== "string" || id === "") {
    throw new TypeError(`${tool}: the first argument must be a non-empty step id, received ${JSON.stringify(input)}`);
  }
  return typeof input === "object" && input.name ? { id, displayName: input.name } : { id };
}
