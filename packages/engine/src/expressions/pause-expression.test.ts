import { expect, it } from "vitest";
import { preparePauseExpression } from "./pause-expression.ts";

const trigger = { id: "e", name: "t", data: { orderId: "o-1", n: 5, nested: { k: "v" } }, user: {}, ts: 0 };
it("prepares", () => {
  expect(preparePauseExpression("event.data.orderId == async.data.orderId", trigger, "w")).toEqual({
    expression: '"o-1" == async.data.orderId',
    indexPath: "data.orderId",
    indexValue: '"o-1"',
    exact: true,
  });
  expect(preparePauseExpression('async.data.status == "paid" && async.data.total > event.data.n', trigger, "w")).toEqual({
    expression: 'async.data.status == "paid" && async.data.total > 5',
    indexPath: "data.status",
    indexValue: '"paid"',
    exact: false,
  });
  expect(preparePauseExpression("async.data.n > 3", trigger, "w")).toEqual({ expression: "async.data.n > 3" });
  expect(preparePauseExpression('async.data.k == event.data.nested["k"]', trigger, "w")).toMatchObject({ indexPath: "data.k", indexValue: '"v"' });
  expect(preparePauseExpression("async.data.n == event.data.n", trigger, "w")).toMatchObject({ indexPath: "data.n", indexValue: "5" });
});
