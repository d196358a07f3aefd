// ts-client.mjs drives an MCP server with the official TypeScript SDK client
// and prints a JSON summary of what it saw on stdout (one line).
//
// Usage: node ts-client.mjs streamable|sse BASE_URL [TAG]
// TAG (default "e2e") is put into the sampling prompt, the elicitation
// message and the elicited username, so concurrent runs can check that each
// got only its own server-initiated requests.
// The SDK is loaded from $ASYNCMCP_NODE_DIR/node_modules (ESM ignores
// NODE_PATH, so the modules are imported by absolute path).
import path from "node:path";
import { pathToFileURL } from "node:url";

const [mode, base, tag = "e2e"] = process.argv.slice(2);
const nodeDir = process.env.ASYNCMCP_NODE_DIR;
if (!mode || !base || !nodeDir) {
  console.error("usage: ASYNCMCP_NODE_DIR=DIR node ts-client.mjs streamable|sse BASE_URL");
  process.exit(2);
}
const sdk = (p) => import(pathToFileURL(path.join(nodeDir, "node_modules/@modelcontextprotocol/sdk/dist/esm", p)).href);
const { Client } = await sdk("client/index.js");
const { StreamableHTTPClientTransport } = await sdk("client/streamableHttp.js");
const { SSEClientTransport } = await sdk("client/sse.js");
const { CreateMessageRequestSchema, ElicitRequestSchema } = await sdk("types.js");

const summary = { mode, tag, samplingRequests: [], elicitationRequests: [] };

function newClient() {
  const client = new Client(
    { name: "asyncmcp-e2e-ts-client", version: "1.0.0" },
    { capabilities: { sampling: {}, elicitation: {} } },
  );
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    summary.samplingRequests.push(req.params);
    return {
      role: "assistant",
      content: { type: "text", text: `pong from the TS client ${tag}` },
      model: "e2e-test-model",
      stopReason: "endTurn",
    };
  });
  client.setRequestHandler(ElicitRequestSchema, async (req) => {
    summary.elicitationRequests.push(req.params);
    return { action: "accept", content: { username: `ts-user-${tag}` } };
  });
  return client;
}

const texts = (res) => (res.content ?? []).filter((c) => c.type === "text").map((c) => c.text);

async function streamable() {
  const client = newClient();
  const transport = new StreamableHTTPClientTransport(new URL(base + "/mcp"));
  await client.connect(transport);
  summary.sessionId = transport.sessionId;
  summary.protocolVersion = transport.protocolVersion;
  summary.serverInfo = client.getServerVersion();

  summary.tools = (await client.listTools()).tools.map((t) => t.name);

  const progress = [];
  const pres = await client.callTool(
    { name: "test_tool_with_progress", arguments: {} },
    undefined,
    { onprogress: (p) => progress.push(p) },
  );
  summary.progress = progress;
  summary.progressResult = texts(pres);

  summary.samplingResult = texts(
    await client.callTool({ name: "test_sampling", arguments: { prompt: `ping from ${tag}` } }),
  );
  summary.elicitationResult = texts(
    await client.callTool({ name: "test_elicitation", arguments: { message: `Who is there, ${tag}?` } }),
  );

  // Session termination: DELETE, then the old session id must be unknown.
  const sid = transport.sessionId;
  await transport.terminateSession();
  summary.sessionIdAfterTerminate = transport.sessionId ?? null;
  const res = await fetch(base + "/mcp", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
      "Mcp-Session-Id": sid,
      "MCP-Protocol-Version": summary.protocolVersion,
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 99, method: "tools/list", params: {} }),
  });
  summary.postAfterTerminateStatus = res.status;
  await res.body?.cancel();
  await client.close();
}

async function sse() {
  const client = newClient();
  const transport = new SSEClientTransport(new URL(base + "/sse"));
  await client.connect(transport);
  summary.serverInfo = client.getServerVersion();
  summary.tools = (await client.listTools()).tools.map((t) => t.name);
  summary.simpleTextResult = texts(await client.callTool({ name: "test_simple_text", arguments: {} }));
  summary.samplingResult = texts(
    await client.callTool({ name: "test_sampling", arguments: { prompt: `ping over legacy SSE from ${tag}` } }),
  );
  await client.close();
}

try {
  if (mode === "streamable") await streamable();
  else if (mode === "sse") await sse();
  else throw new Error(`unknown mode ${mode}`);
  console.log(JSON.stringify(summary));
  process.exit(0);
} catch (err) {
  summary.error = String(err?.stack ?? err);
  console.log(JSON.stringify(summary));
  process.exit(1);
}
