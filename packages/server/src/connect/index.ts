/**
 * @module connect
 * Inngest Connect: workers that open a WebSocket to the server instead of serving HTTP.
 * `ConnectGateway` holds the sockets and dispatches calls; `connectRoutes` serves
 * `POST /v0/connect/start` and `/v0/connect/flush`; the HTTP server hands its `upgrade`
 * events to `gateway.handleUpgrade`.
 */
export { ConnectFunction, callPayload, decodeReply } from "./connect-function.ts";
export { type ForwardCall, forwardPath, forwardSignatureHeader, signForward, verifyForward } from "./forward.ts";
export { CloseCode, ConnectGateway, type ConnectGatewayOptions, type ConnectionInfo, connectAppPrefix, connectSubprotocol, gatewayPath } from "./gateway.ts";
export { type ConnectRoutesOptions, connectRoutes } from "./routes.ts";
export { decode, encode, frame, MessageKind, ResponseStatus, schemas, WireError } from "./wire.ts";
