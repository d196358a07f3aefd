// ts2-client.mjs drives an MCP server with the TypeScript SDK v2 client
// (@modelcontextprotocol/client) and prints a one-line JSON summary.
//
// Usage: node ts2-client.mjs default|auto http URL
//        node ts2-client.mjs default|auto stdio COMMAND [ARGS...]
// "default" leaves versionNegotiation unset (the SDK's default, a legacy
// initialize); "auto" sets versionNegotiation: {mode: "auto"} (probe
// server/discover first, fall back to initialize).
// The SDK is loaded from $ASYNCMCP_NODE_DIR/node_modules.
import path from "node:path";
import { pathToFileURL } from "node:url";

const [negotiation, kind, target, ...rest] = process.argv.slice(2);
const nodeDir = process.env.ASYNCMCP_NODE_DIR;
if (!negotiation || !kind || !target || !nodeDir) {
  console.error("usage: ASYNCMCP_NODE_DIR=DIR node ts2-client.mjs default|auto http URL | stdio COMMAND ARGS...");
  process.exit(2);
}
const pkg = (p) => import(pathToFileURL(path.join(nodeDir, "node_modules/@modelcontextprotocol/client/dist", p)).href);
const { Client, StreamableHTTPClientTransport } = await pkg("index.mjs");

const summary = { negotiation, kind, progress: [] };
try {
  const options = { capabilities: {} };
  if (negotiation === "auto") options.versionNegotiation = { mode: "auto" };
  const client = new Client({ name: "asyncmcp-e2e-ts2-client", version: "1.0.0" }, options);
  let transport;
  if (kind === "http") {
    transport = new StreamableHTTPClientTransport(new URL(target));
  } else {
    const { StdioClientTransport } = await pkg("stdio.mjs");
    transport = new StdioClientTransport({ command: target, args: rest, stderr: "inherit" });
  }
  await client.connect(transport);
  summary.protocolVersion = client.getNegotiatedProtocolVersion();
  summary.tools = (await client.listTools()).tools.map((t) => t.name);
  const simple = await client.callTool({ name: "test_simple_text", arguments: {} });
  summary.simpleText = simple.content?.[0]?.text;
  await client.callTool({ name: "test_tool_with_progress", arguments: {} }, {
    onprogress: (p) => summary.progress.push(p.progress),
  });
  await client.close();
} catch (e) {
  summary.error = String(e?.stack ?? e);
}
console.log(JSON.stringify(summary));
process.exit(0);
