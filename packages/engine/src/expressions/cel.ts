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
  /** The parsed tree (cel-js's shape: `{ op, args, start, end }`). */
  readonly ast: unknown;
  /** The value, or `undefined` when evaluation fails (missing key, type mismatch). */
  evaluate(variables: Record<string, unknown>): unknown;
  /** True only when the expression evaluates to `true`. */
  matches(variables: Record<string, unknown>): boolean;
}

/** Compiled expressions by source. Bounded: pause expressions embed per-run values. */
const cache = new Map<string, CompiledExpression>();
const cacheLimit = 10_000;

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
    ast: program.ast,
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
  if (cache.size >= cacheLimit) cache.delete(cache.keys().next().value as string);
  cache.set(source, compiled);
  return compiled;
}
