/**
 * @module middleware/types
 * The type plumbing of dependency injection: which context fields a list of middleware
 * adds to the handler context.
 */
import type { Context } from "../function.ts";
import type { BaseMiddleware, MiddlewareClass } from "./base.ts";
import type { TransformFunctionInputArgs } from "./hook-args.ts";
import type { InngestMiddleware, MiddlewareOptions } from "./middleware.ts";

/** One entry of a `middleware` option: a v3 `InngestMiddleware` or a v4 middleware class. */
export type MiddlewareEntry = InngestMiddleware<MiddlewareOptions> | MiddlewareClass;

/** A `middleware` option. */
export type MiddlewareStack = readonly MiddlewareEntry[];

type NoFields = Record<never, never>;
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
// biome-ignore lint/suspicious/noExplicitAny: matching any function
type AnyFn = (...args: any[]) => any;
type Returned<F> = F extends AnyFn ? Awaited<ReturnType<F>> : never;

/** The `ctx` fields a v3 middleware's `transformInput` returns. */
type V3Context<TOpts> = TOpts extends { init: infer Init }
  ? Returned<Init> extends { onFunctionRun?: infer Run }
    ? Returned<Run> extends { transformInput?: infer Transform }
      ? Returned<Transform> extends { ctx?: infer Ctx }
        ? NonNullable<Ctx>
        : NoFields
      : NoFields
    : NoFields
  : NoFields;

/** The `ctx` a v4 middleware's `transformFunctionInput` returns. */
type V4Context<TInstance> = TInstance extends BaseMiddleware
  ? TInstance extends { transformFunctionInput?: infer Transform }
    ? Returned<Transform> extends TransformFunctionInputArgs<infer Ctx>
      ? Omit<Ctx, keyof Context>
      : NoFields
    : NoFields
  : NoFields;

type EntryContext<M> =
  M extends InngestMiddleware<infer TOpts>
    ? V3Context<TOpts>
    : M extends abstract new (
          // biome-ignore lint/suspicious/noExplicitAny: matching any constructor
          ...args: any[]
        ) => infer I
      ? V4Context<I>
      : NoFields;

/**
 * The context fields added by a list of middleware, to intersect into the handler
 * context: `Context<Data> & MiddlewareContext<typeof middleware>`.
 */
export type MiddlewareContext<TMiddleware extends MiddlewareStack> =
  UnionToIntersection<EntryContext<TMiddleware[number]>> extends infer C ? ([C] extends [never] ? unknown : C) : unknown;
