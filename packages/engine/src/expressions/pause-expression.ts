/**
 * @module pause-expression
 * Prepares a wait's (or cancelOn's) CEL expression when the pause is created, as Inngest
 * does: every `event.*` reference is replaced by its value from the run's own trigger, so
 * matching an incoming event needs only `async`. An equality between `async.<path>` and a
 * literal (the whole expression, or one conjunct of a top-level `&&`) becomes an index
 * key, so an incoming event finds its pauses by lookup instead of evaluating them all.
 */
import type { StoredEvent } from "@stepwise/protocol";
import type { PauseRecord } from "../ports/store.ts";
import { compileExpression } from "./cel.ts";

interface Node {
  op: string;
  args: unknown;
  start: number;
  end: number;
}

export interface PreparedPauseExpression {
  expression?: string;
  indexPath?: string;
  indexValue?: string;
  exact?: boolean;
}

const isNode = (value: unknown): value is Node => typeof value === "object" && value !== null && "op" in value && "start" in value;

/** `event.data.x` / `event.data["x"]` → ["event", "data", "x"]; anything else → undefined. */
function memberPath(node: Node): string[] | undefined {
  if (node.op === "id" && typeof node.args === "string") return [node.args];
  if (!Array.isArray(node.args)) return undefined;
  const [target, key] = node.args as [unknown, unknown];
  if (!isNode(target)) return undefined;
  const base = memberPath(target);
  if (!base) return undefined;
  if (node.op === "." && typeof key === "string") return [...base, key];
  if (node.op === "[]" && isNode(key) && key.op === "value" && typeof key.args === "string") return [...base, key.args];
  return undefined;
}

function children(node: Node): Node[] {
  return Array.isArray(node.args) ? (node.args as unknown[]).filter(isNode) : [];
}

function readPath(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** A JSON value as a CEL literal (JSON objects, arrays, strings and numbers are valid CEL). */
function celLiteral(value: unknown): string {
  return value === undefined ? "null" : JSON.stringify(value);
}

function literalValue(node: Node): { value: unknown } | undefined {
  if (node.op !== "value") return undefined;
  const v = node.args;
  if (typeof v === "bigint") return { value: Number(v) };
  if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") return { value: v };
  return undefined;
}

/** Substitutes `event.*` with the trigger's values, then finds an indexable equality. */
export function preparePauseExpression(source: string | undefined, trigger: StoredEvent | undefined, where: string): PreparedPauseExpression {
  if (!source) return {};
  const root = compileExpression(source, where).ast as Node;
  const replacements: Array<{ start: number; end: number; text: string }> = [];
  const visit = (node: Node) => {
    const path = memberPath(node);
    if (path && path[0] === "event") {
      replacements.push({ start: node.start, end: node.end, text: celLiteral(readPath(trigger, path.slice(1))) });
      return;
    }
    for (const child of children(node)) visit(child);
  };
  visit(root);
  let expression = source;
  for (const r of replacements.sort((a, b) => b.start - a.start)) expression = expression.slice(0, r.start) + r.text + expression.slice(r.end);

  const prepared = compileExpression(expression, where).ast as Node;
  const conjuncts: Node[] = [];
  const flatten = (node: Node) => (node.op === "&&" ? children(node).forEach(flatten) : conjuncts.push(node));
  flatten(prepared);
  for (const conjunct of conjuncts) {
    if (conjunct.op !== "==") continue;
    const [left, right] = children(conjunct);
    if (!left || !right) continue;
    for (const [side, other] of [
      [left, right],
      [right, left],
    ] as const) {
      const path = memberPath(side);
      const literal = literalValue(other);
      if (path && path[0] === "async" && path.length > 1 && literal) {
        return { expression, indexPath: path.slice(1).join("."), indexValue: JSON.stringify(literal.value), exact: conjuncts.length === 1 };
      }
    }
  }
  return { expression };
}

/** The index value an incoming event has at `path` (JSON), or undefined when absent. */
export function indexValueOf(event: StoredEvent, path: string): string | undefined {
  const value = readPath(event, path.split("."));
  return value === undefined ? undefined : JSON.stringify(value);
}

/** Whether `event` satisfies a pause (its index already matched, if it has one). */
export function pauseMatches(pause: PauseRecord, event: StoredEvent): boolean {
  if (pause.exact || !pause.expression) return true;
  return compileExpression(pause.expression, `pause ${pause.id}`).matches({ async: event });
}
