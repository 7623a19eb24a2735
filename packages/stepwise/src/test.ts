/**
 * @module stepwise/test
 * Testing Stepwise functions. `InngestTestEngine` runs one function in memory with mocked
 * events and steps, with the API of the official `@inngest/test` (tests port by changing
 * the import). `createTestEngine` runs the real engine on an in-memory database with a
 * manual clock: days of sleeps, timeouts, throttles and debounces pass in milliseconds.
 */
export {
  type ExecutionOutput,
  type InlineOptions,
  InngestTestEngine,
  type InngestTestEngineOptions,
  type MockedStep,
  type StepExecutionOutput,
} from "./testing/inngest-test-engine.ts";
export { createMockEvent, type MockContext, type MockedStepTools, mockCtx } from "./testing/mock-ctx.ts";
export { createTestEngine, type RunRef, type TestEngine, type TestEngineOptions, type WaitForRunOptions } from "./testing/test-engine.ts";
