/**
 * @module cel
 * The one place CEL is compiled and evaluated (library: @marcbachmann/cel-js — zero
 * dependencies, ESM, parses once and evaluates fast, and treats JSON numbers as doubles
 * that compare with int literals, which event payloads need).
 * Expressions are compiled when functions register, so a typo is an error naming the
 * function and field, never a silent non-match at run time. At run time a missing key
 * (`event.data.nope`) evaluates as no match.
 */
import { Environment } from "@marcbachmann/cel-js";
import { StepwiseError } from "@stepwise/protocol";

const env = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false });

type Program = ReturnType<typeof env.parse>;

export interface CompiledExpression {
  readonly source: string;
  /** The value, or `undefined` when evaluation fails (missing key, type mismatch). */
  evaluate(variables: Record<string, unknown>): unknown;
  /** True only when the expression evaluates to `true`. */
  matches(variables: Record<string, unknown>): boolean;
}

const cache = new Map<string, CompiledExpression>();

/** Compiles `source`; `where` names the function and field for the error message. */
export function compileExpression(source: string, where: string): CompiledExpression {
  const cached = cache.get(source);
  if (cached) return cached;
  let program: Program;
  try {
    program = env.parse(source);
  } catch (cause) {
    const reason = (cause as Error).message.split("\n")[0];
    throw new StepwiseError("invalid_expression", `${where}: invalid expression ${JSON.stringify(source)}: ${reason}`, { cause });
  }
  const compiled: CompiledExpression = {
    source,
    evaluate(variables) {
      try {
        return program(variables);
      } catch {
        return undefined;
      }
    },
    matches(variables) {
      return compiled.evaluate(variables) === true;
    },
  };
  cache.set(source, compiled);
  return compiled;
}
