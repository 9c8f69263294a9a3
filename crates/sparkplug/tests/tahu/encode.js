// Encodes Sparkplug B payloads with Eclipse Tahu's JavaScript codec (npm `sparkplug-payload`),
// so that a test can play a host whose messages (DCMD, NCMD) come from an implementation
// independent of the Rust codec under test.
// Input: one payload per line on stdin as JSON in Tahu's object form, e.g.
//   {"timestamp": 1764000000000, "metrics": [{"name": "breaker_cmd", "type": "Boolean", "value": true}]}
// Output: one line per payload, the encoded bytes as hex (or {"error": ...} as JSON).
"use strict";
const readline = require("readline");
const sparkplug = require("sparkplug-payload").get("spBv1.0");

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const text = line.trim();
  if (text === "") return;
  try {
    const bytes = sparkplug.encodePayload(JSON.parse(text));
    process.stdout.write(Buffer.from(bytes).toString("hex") + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e) }) + "\n");
  }
});
