/**
 * An HTTP server for a serve() handler that records each call as the app receives it
 * (URL and parsed JSON body), then hands the handler a replay of the request. Tests use it
 * to count the server's calls to an app.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server } from "node:http";
import { Readable } from "node:stream";

export interface ReceivedCall {
  url: URL;
  headers: IncomingMessage["headers"];
  body: unknown;
}

export function recordingApp(handler: RequestListener, onCall: (call: ReceivedCall) => void): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? "/", "http://app");
      if (url.searchParams.has("fnId") && req.method === "POST") onCall({ url, headers: req.headers, body: JSON.parse(body.toString("utf8")) });
      const replay = Object.assign(Readable.from(body.length ? [body] : []), {
        headers: req.headers,
        url: req.url,
        method: req.method,
        socket: req.socket,
        httpVersion: req.httpVersion,
      });
      void handler(replay as unknown as IncomingMessage, res);
    });
  });
}
