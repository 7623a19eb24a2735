/**
 * @module testing/mock-ctx
 * The handler context as `InngestTestEngine` hands it over: every `ctx.step.*` tool a
 * Jest-compatible mock function (from `@vitest/spy`, which `expect` in vitest, Jest and
 * Bun recognises) that still calls the real tool, so tests can assert
 * `expect(ctx.step.run).toHaveBeenCalledWith("my-step", expect.any(Function))`.
 */

import { newId } from "@stepwise/engine";
import { type StoredEvent, SystemEvent } from "@stepwise/protocol";
import type { Context, StepTools } from "@stepwise/sdk";
import { fn, type Mock } from "@vitest/spy";

// biome-ignore lint/suspicious/noExplicitAny: the step tools are generic functions; a mock keeps their call signature
type Procedure = (...args: any[]) => any;

type Mocked<T> = T extends Procedure ? Mock<T> & T : T;

/** `ctx.step` with every tool a mock function (also those grouped under one name: `step.realtime.publish`). */
export type MockedStepTools = {
  [K in keyof StepTools]: StepTools[K] extends Procedure
    ? Mocked<StepTools[K]>
    : StepTools[K] extends object
      ? { [P in keyof StepTools[K]]: Mocked<StepTools[K][P]> }
      : StepTools[K];
};

function mockTool(tool: unknown): unknown {
  if (typeof tool === "function") return fn(tool as Procedure);
  if (tool && typeof tool === "object")
    return Object.fromEntries(Object.entries(tool).map(([name, inner]) => [name, typeof inner === "function" ? fn(inner as Procedure) : inner]));
  return tool;
}

/** A handler context whose step tools are mock functions. */
export interface MockContext<Data = Record<string, unknown>> extends Omit<Context<Data>, "step"> {
  step: MockedStepTools;
}

/**
 * The default `transformCtx`: a copy of `ctx` whose step tools are mocks calling the real
 * ones. Call it from your own `transformCtx` to keep the spies while changing more.
 *
 * @example
 * new InngestTestEngine({ function: fn, transformCtx: (ctx) => ({ ...mockCtx(ctx), event: custom }) });
 */
export function mockCtx<Data>(ctx: Readonly<Context<Data>>): MockContext<Data> {
  const step = Object.fromEntries(Object.entries(ctx.step).map(([name, tool]) => [name, mockTool(tool)])) as MockedStepTools;
  return { ...ctx, step };
}

/** A minimal `inngest/function.invoked` event, the trigger used when a test gives none. */
export function createMockEvent(): StoredEvent {
  return { id: newId(), name: SystemEvent.FunctionInvoked, data: {}, user: {}, ts: Date.now() };
}
