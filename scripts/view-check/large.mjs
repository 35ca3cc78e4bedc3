// Writes a JSON Lines export of 100,000 spans (10 traces of a root and 9,999 children, two
// arguments each, an LLM call every 50 spans), children first, for the report's large-run check.
// Usage: node large.mjs <out.jsonl>
import { createWriteStream } from "node:fs";

const out = createWriteStream(process.argv[2]);
const hex = (n, width) => n.toString(16).padStart(width, "0");
const id = (name, n) => `${name}-${hex(n, 8)}-0000-4000-8000-${hex(n, 12)}`;
let n = 0;
for (let t = 0; t < 10; t++) {
  const base = t * 1e9;
  const root = id("RagPipeline.query", ++n);
  const lines = [];
  const push = (name, spanId, parent, start, dur, extra = {}) =>
    lines.push({
      span_id: spanId, parent_id: parent, name, dispatcher: "app", start_unix_nano: base + start,
      end_unix_nano: base + start + dur, duration_ns: dur, status: "ok",
      attributes: { args: { query: `question ${t}`, top_k: n % 7 }, metadata: {}, tags: {} }, events: [], ...extra,
    });
  push("RagPipeline.query", root, null, 0, 9_999_000);
  for (let s = 1; s < 10_000; s++) {
    const spanId = id(s % 50 === 0 ? "llm.chat" : "step", ++n);
    const events = s % 50 === 0 ? [
      { name: "LLMChatStartEvent", time_unix_nano: base + s * 1000, attributes: { messages: [{ role: "user", content: `question ${s}` }], model_dict: { model: "gpt-4o-mini" } } },
      { name: "LLMChatEndEvent", time_unix_nano: base + s * 1000 + 900, attributes: { response: { message: { role: "assistant", content: `answer ${s}` }, raw: { model: "gpt-4o-mini", usage: { prompt_tokens: 120, completion_tokens: 30 } } } } },
    ] : [];
    push(s % 50 === 0 ? "llm.chat" : `step.${s % 4}`, spanId, root, s * 1000, 900, { events });
  }
  for (const line of lines.reverse()) out.write(JSON.stringify(line) + "\n");
}
out.end();
