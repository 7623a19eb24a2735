/**
 * @module ai-step
 * The AI part of the step inspector: model, prompt, response and token counts of a
 * `step.ai.infer` step (nothing for other steps).
 */
import { type AiMessage, aiSummary } from "./ai-summary.ts";

function Messages({ messages, testId }: { messages: AiMessage[]; testId: string }) {
  if (messages.length === 0) return <p className="muted">—</p>;
  return (
    <div className="ai-messages" data-testid={testId}>
      {messages.map((m, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: messages have no ids and never reorder
        <div className="ai-message" key={i}>
          <span className="ai-role">{m.role}</span>
          <pre className="json">{m.text}</pre>
        </div>
      ))}
    </div>
  );
}

export function AiStep({ step }: { step: { op: string; input: unknown; output: unknown } }) {
  const summary = aiSummary(step);
  if (!summary) return null;
  const { tokens } = summary;
  const count = (n: number | undefined) => (n === undefined ? "—" : String(n));
  return (
    <div className="ai-step" data-testid="ai-step">
      <dl className="facts">
        <dt>model</dt>
        <dd data-testid="ai-model">{summary.model ?? "—"}</dd>
        {summary.format ? (
          <>
            <dt>format</dt>
            <dd>{summary.format}</dd>
          </>
        ) : null}
        <dt>tokens</dt>
        <dd data-testid="ai-tokens">
          {count(tokens.input)} in · {count(tokens.output)} out · {count(tokens.total)} total
        </dd>
      </dl>
      <h4>Prompt</h4>
      <Messages messages={summary.prompt} testId="ai-prompt" />
      <h4>Response</h4>
      <Messages messages={summary.response} testId="ai-response" />
    </div>
  );
}
