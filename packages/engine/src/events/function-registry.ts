/**
 * @module function-registry
 * Registered functions and their event triggers, indexed by event name so an incoming
 * event finds its functions without scanning them all. Trigger `if` expressions are
 * compiled here, at registration.
 */
import { type FunctionHandle, StepwiseError, type StoredEvent } from "@stepwise/protocol";
import { type CompiledExpression, compileExpression } from "../expressions/cel.ts";
import { parseCron } from "../scheduler/cron.ts";

interface EventBinding {
  fn: FunctionHandle;
  expression?: CompiledExpression;
}

export class FunctionRegistry {
  private readonly byId = new Map<string, FunctionHandle>();
  /**
   * Event name → function id → its bindings for that name (a function may trigger on one
   * name twice, with different `if`s). Keyed by id so (un)registering a function touches
   * only its own names: a sync of n functions is O(n), not O(n²). Map order is
   * registration order, which `match` keeps.
   */
  private readonly byEventName = new Map<string, Map<string, EventBinding[]>>();
  /** Triggers ending in `*` match by prefix, per function id. */
  private readonly byPrefix = new Map<string, Array<{ prefix: string; binding: EventBinding }>>();
  /** The exact event names each function is bound under, so `unregister` visits only those. */
  private readonly namesOf = new Map<string, string[]>();
  /** What this node last read of paused functions (the store holds the truth). */
  private readonly paused = new Set<string>();

  setPaused(id: string, paused: boolean) {
    if (paused) this.paused.add(id);
    else this.paused.delete(id);
  }

  isPaused(id: string): boolean {
    return this.paused.has(id);
  }

  /** Adds functions (and their companions, e.g. onFailure handlers), replacing any with the same id; all-or-nothing. */
  register(functions: readonly FunctionHandle[]): void {
    const all = functions.flatMap((fn) => [fn, ...(fn.companions ?? [])]);
    for (const fn of all) validateExpressions(fn);
    const bindings = all.map((fn) => ({
      fn,
      events: fn.config.triggers.flatMap((trigger, i) => {
        if (!("event" in trigger)) return [];
        const expression = trigger.if ? compileExpression(trigger.if, `function "${fn.config.slug}": triggers[${i}].if`) : undefined;
        return [{ name: trigger.event, binding: expression ? { fn, expression } : { fn } }];
      }),
    }));
    const seen = new Set<string>();
    for (const { fn } of bindings) {
      if (seen.has(fn.config.id)) throw new StepwiseError("invalid_config", `function id "${fn.config.id}" is registered twice; function ids must be unique`);
      seen.add(fn.config.id);
    }
    for (const { fn, events } of bindings) {
      const id = fn.config.id;
      if (this.byId.has(id)) this.unregister(id);
      this.byId.set(id, fn);
      const names: string[] = [];
      for (const { name, binding } of events) {
        if (name.endsWith("*")) {
          const prefixes = this.byPrefix.get(id) ?? [];
          prefixes.push({ prefix: name.slice(0, -1), binding });
          this.byPrefix.set(id, prefixes);
          continue;
        }
        let ofName = this.byEventName.get(name);
        if (!ofName) {
          ofName = new Map();
          this.byEventName.set(name, ofName);
        }
        const list = ofName.get(id);
        if (list) list.push(binding);
        else {
          ofName.set(id, [binding]);
          names.push(name);
        }
      }
      if (names.length) this.namesOf.set(id, names);
    }
  }

  /** Removes one function by id, in time proportional to its own triggers. */
  unregister(id: string) {
    this.byId.delete(id);
    for (const name of this.namesOf.get(id) ?? []) {
      const ofName = this.byEventName.get(name);
      ofName?.delete(id);
      if (ofName?.size === 0) this.byEventName.delete(name);
    }
    this.namesOf.delete(id);
    this.byPrefix.delete(id);
  }

  get(id: string): FunctionHandle | undefined {
    return this.byId.get(id);
  }

  /** Drives runs no registered function owns but the engine still calls (durable endpoints gone async). */
  private adopter: ((id: string) => FunctionHandle | undefined) | undefined;

  setAdopter(adopter: ((id: string) => FunctionHandle | undefined) | undefined) {
    this.adopter = adopter;
  }

  /** What executes runs of `id`: its registered function, else an adopted driver (never matched by events). */
  driverFor(id: string): FunctionHandle | undefined {
    return this.byId.get(id) ?? this.adopter?.(id);
  }

  all(): FunctionHandle[] {
    return [...this.byId.values()];
  }

  /** Functions that `event` triggers (each at most once). */
  match(event: StoredEvent): FunctionHandle[] {
    const out: FunctionHandle[] = [];
    const found = new Set<FunctionHandle>();
    const consider = (binding: EventBinding) => {
      // paused functions are matched too: admission drops their runs, reading the pause in the store
      if (found.has(binding.fn)) return;
      if (!binding.expression || binding.expression.matches({ event })) {
        found.add(binding.fn);
        out.push(binding.fn);
      }
    };
    for (const list of this.byEventName.get(event.name)?.values() ?? []) for (const binding of list) consider(binding);
    for (const prefixes of this.byPrefix.values()) for (const { prefix, binding } of prefixes) if (event.name.startsWith(prefix)) consider(binding);
    return out;
  }
}

/** Compiles every expression and cron string of a function, so mistakes surface at registration. */
function validateExpressions(fn: FunctionHandle) {
  const { config } = fn;
  const where = (field: string) => `function "${config.slug}": ${field}`;
  config.triggers.forEach((trigger, i) => {
    if ("cron" in trigger) parseCron(trigger.cron, where(`triggers[${i}].cron`));
  });
  config.cancelOn?.forEach((cancel, i) => {
    if (cancel.match && cancel.if) throw new StepwiseError("invalid_config", `${where(`cancelOn[${i}]`)}: give "match" or "if", not both`);
    if (cancel.match) compileExpression(`event.${cancel.match} == async.${cancel.match}`, where(`cancelOn[${i}].match`));
    if (cancel.if) compileExpression(cancel.if, where(`cancelOn[${i}].if`));
  });
  const keys: Array<[string, string | undefined]> = [
    ["idempotency", config.idempotency],
    ["rateLimit.key", config.rateLimit?.key],
    ["throttle.key", config.throttle?.key],
    ["debounce.key", config.debounce?.key],
    ["priority.run", config.priority?.run],
    ["batchEvents.key", config.batchEvents?.key],
    ["batchEvents.if", config.batchEvents?.if],
    ["singleton.key", config.singleton?.key],
  ];
  const concurrency = config.concurrency;
  const limits = typeof concurrency === "object" ? (Array.isArray(concurrency) ? concurrency : [concurrency]) : [];
  limits.forEach((c, i) => {
    keys.push([Array.isArray(concurrency) ? `concurrency[${i}].key` : "concurrency.key", c.key]);
  });
  for (const [field, source] of keys) if (source) compileExpression(source, where(field));
}
