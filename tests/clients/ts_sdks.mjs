// The official TypeScript SDKs, unchanged but for the base URL, against the gateway.
// Run by tests/clients/test_ts_sdks.py with GATEWAY_URL and GATEWAY_KEY; prints one JSON object.
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";

const base = process.env.GATEWAY_URL;
const key = process.env.GATEWAY_KEY;
const oai = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
const ant = new Anthropic({ baseURL: base, apiKey: key, maxRetries: 0 });
const user = [{ role: "user", content: "hi" }];
const out = {};

const chat = await oai.chat.completions.create({ model: "claude-haiku-4-5", messages: user });
out.chat_to_claude = chat.choices[0].message.content;

let streamed = "";
const chunks = await oai.chat.completions.create({
  model: "gpt-4o-mini",
  messages: user,
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of chunks) {
  streamed += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) out.chat_stream_usage = chunk.usage.completion_tokens;
}
out.chat_stream_to_openai = streamed;

let text = "";
const events = await oai.responses.create({ model: "claude-sonnet-4-5", input: "hi", stream: true });
for await (const ev of events) {
  if (ev.type === "response.output_text.delta") text += ev.delta;
  if (ev.type === "response.completed") out.responses_stream_usage = ev.response.usage.output_tokens;
}
out.responses_stream_to_claude = text;
const whole = await oai.responses.create({ model: "gpt-4o-mini", input: "hi" });
out.responses_to_openai = whole.output_text;
out.responses_retrieved = (await oai.responses.retrieve(whole.id)).output_text;

const message = await ant.messages.stream({ model: "gpt-4o-mini", max_tokens: 50, messages: user }).finalMessage();
out.messages_stream_to_openai = message.content[0].text;
out.messages_stream_usage = message.usage.output_tokens;
const plain = await ant.messages.create({ model: "claude-haiku-4-5", max_tokens: 50, messages: user });
out.messages_to_claude = plain.content[0].text;

out.count_tokens = (await ant.messages.countTokens({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello, world!" }] })).input_tokens;
const emb = await oai.embeddings.create({ model: "text-embedding-3-small", input: "hi", encoding_format: "float" });
out.embedding_length = emb.data[0].embedding.length;
out.model = (await oai.models.retrieve("claude-sonnet-4-5")).id;

try {
  await oai.responses.create({ model: "gpt-9", input: "hi" });
} catch (err) {
  out.openai_error = [err.status, err.code];
}
try {
  await ant.messages.create({ model: "claude-9", max_tokens: 5, messages: user });
} catch (err) {
  out.anthropic_error = [err.status, err.error?.error?.type];
}
console.log(JSON.stringify(out));
