// Decodes Sparkplug B payloads with Eclipse Tahu's JavaScript codec (npm `sparkplug-payload`),
// an implementation independent of the Rust encoder under test.
// Input: one payload per line on stdin, as hex. Output: one JSON line per payload:
//   {"tahu": <sparkplug-payload decodePayload()>, "raw": <protobufjs Payload message as object>}
// 64-bit integers are written as decimal strings; float values as numbers; bytes as hex.
"use strict";
const readline = require("readline");
const sparkplug = require("sparkplug-payload").get("spBv1.0");
const Long = require("long");
const proto = require("sparkplug-payload/lib/sparkplugPayloadProto");

const Payload = proto.org.eclipse.tahu.protobuf.Payload;

function replacer(_key, value) {
  if (Long.isLong(value)) return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString("hex");
  if (value && value.type === "Buffer" && Array.isArray(value.data)) return Buffer.from(value.data).toString("hex");
  return value;
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const hex = line.trim();
  if (hex === "") return;
  const bytes = Buffer.from(hex, "hex");
  try {
    const tahu = sparkplug.decodePayload(bytes);
    const raw = Payload.toObject(Payload.decode(bytes), { longs: String, defaults: false, oneofs: false });
    process.stdout.write(JSON.stringify({ tahu, raw }, replacer) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e) }) + "\n");
  }
});
