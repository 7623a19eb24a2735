/**
 * Fake upstreams for step.fetch and step.ai.infer tests, on 127.0.0.1 (node:http):
 * - an LLM server answering OpenAI `/v1/chat/completions`, Anthropic `/v1/messages` and
 *   Gemini `/v1beta/models/<model>:generateContent`, recording each request as received;
 * - an HTTP target counting hits per path: `/hello` (201 text), `/status/<n>`, `/echo`
 *   (the request as JSON), `/slow` (answers after 2 s), `/flaky` (drops the connection the
 *   first `flakyDrops` times).
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface FakeServer {
  url: string;
  received: Received[];
  hits(path: string): number;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

function closer(server: Server) {
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}

function recorded(handler: (req: Received, res: import("node:http").ServerResponse) => void) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r: Received = { method: req.method ?? "", path: req.url ?? "/", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      received.push(r);
      handler(r, res);
    });
  });
  return { server, received };
}

/** The LLM server. `failNext`: statuses to answer (in order) before answering normally. */
export async function fakeLlm(): Promise<FakeServer & { failNext: number[] }> {
  const failNext: number[] = [];
  const { server, received } = recorded((req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const failure = failNext.shift();
    // a failure echoes the credential it received, as some providers do: it must not be stored
    if (failure !== undefined) return json(failure, { error: { message: `fake failure ${failure} for ${req.headers.authorization ?? "-"}` } });
    const body = JSON.parse(req.body || "{}");
    const path = req.path.split("?")[0] ?? "";
    if (path === "/v1/chat/completions") {
      return json(200, {
        id: "chatcmpl-1",
        object: "chat.completion",
        model: body.model,
        choices: [{ index: 0, message: { role: "assistant", content: `openai says: ${body.messages?.[0]?.content}` }, finish_reason: "stop" }],
        usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
      });
    }
    if (path === "/v1/messages") {
      return json(200, {
        id: "msg_1",
        type: "message",
        role: "assistant",
        model: body.model,
        content: [{ type: "text", text: `claude says: ${body.messages?.[0]?.content}` }],
        stop_reason: "end_turn",
        usage: { input_tokens: 13, output_tokens: 5 },
      });
    }
    const gemini = /^\/v1beta\/models\/([^:]+):generateContent$/.exec(path);
    if (gemini) {
      return json(200, {
        candidates: [{ content: { role: "model", parts: [{ text: `gemini says: ${body.contents?.[0]?.parts?.[0]?.text}` }] }, finishReason: "STOP" }],
        usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 4, totalTokenCount: 13 },
        modelVersion: gemini[1],
      });
    }
    json(404, { error: { message: `no route ${req.path}` } });
  });
  const url = await listen(server);
  return { url, received, failNext, hits: (p) => received.filter((r) => r.path === p).length, close: closer(server) };
}

/** The step.fetch target. */
export async function fakeTarget(options: { flakyDrops?: number } = {}): Promise<FakeServer> {
  let drops = options.flakyDrops ?? 0;
  const timers = new Set<NodeJS.Timeout>();
  const { server, received } = recorded((req, res) => {
    const path = req.path.split("?")[0] ?? "";
    if (path === "/hello") {
      res.writeHead(201, { "content-type": "text/plain", "x-served-by": "fake" });
      return res.end("created");
    }
    const status = /^\/status\/(\d+)$/.exec(path);
    if (status) {
      res.writeHead(Number(status[1]), { "content-type": "text/plain" });
      return res.end(`status ${status[1]}`);
    }
    if (path === "/echo") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ method: req.method, headers: req.headers, body: req.body, path: req.path }));
    }
    if (path === "/slow") {
      const timer = setTimeout(() => {
        timers.delete(timer);
        res.writeHead(200).end("late");
      }, 2_000);
      timers.add(timer);
      return;
    }
    if (path === "/flaky") {
      if (drops > 0) {
        drops--;
        return req && res.socket?.destroy();
      }
      res.writeHead(200).end("steady now");
      return;
    }
    res.writeHead(404).end("no such path");
  });
  const url = await listen(server);
  const close = closer(server);
  return {
    url,
    received,
    hits: (p) => received.filter((r) => r.path.split("?")[0] === p).length,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      await close();
    },
  };
}
