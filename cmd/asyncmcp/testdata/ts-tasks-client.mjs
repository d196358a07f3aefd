// ts-tasks-client.mjs drives the experimental tasks of MCP 2025-11-25 with
// the official TypeScript SDK client (v1), through a Streamable HTTP
// endpoint, and prints a JSON summary of what it saw on stdout (one line).
//
// Usage: ASYNCMCP_NODE_DIR=DIR node ts-tasks-client.mjs URL
// The server must have the tools of tasks/testdata/fixture.
import path from "node:path";
import { pathToFileURL } from "node:url";

const [url] = process.argv.slice(2);
const nodeDir = process.env.ASYNCMCP_NODE_DIR;
if (!url || !nodeDir) {
  console.error("usage: ASYNCMCP_NODE_DIR=DIR node ts-tasks-client.mjs URL");
  process.exit(2);
}
const sdk = (p) => import(pathToFileURL(path.join(nodeDir, "node_modules/@modelcontextprotocol/sdk/dist/esm", p)).href);
const { Client } = await sdk("client/index.js");
const { StreamableHTTPClientTransport } = await sdk("client/streamableHttp.js");

const summary = {};
const text = (r) => r?.content?.[0]?.text;

try {
  const client = new Client(
    { name: "asyncmcp-e2e-ts-tasks-client", version: "1.0.0" },
    { capabilities: { tasks: { list: {}, cancel: {} } } },
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  summary.protocolVersion = client.transport?.protocolVersion;
  summary.serverTasks = client.getServerCapabilities()?.tasks ?? null;
  const tools = (await client.listTools()).tools;
  summary.taskSupport = Object.fromEntries(tools.map((t) => [t.name, t.execution?.taskSupport ?? null]));

  // A task that completes: the SDK creates it, polls tasks/get, then reads
  // tasks/result.
  summary.events = [];
  for await (const m of client.experimental.tasks.callToolStream({ name: "slow_compute", arguments: { seconds: 1.5, label: "ts" } })) {
    if (m.type === "taskCreated") {
      summary.taskId = m.task.taskId;
      summary.created = m.task;
    }
    if (m.type === "taskStatus") summary.events.push(m.task.status);
    if (m.type === "result") summary.result = text(m.result);
    if (m.type === "error") summary.streamError = String(m.error);
  }
  summary.got = (await client.experimental.tasks.getTask(summary.taskId)).status;
  summary.listed = (await client.experimental.tasks.listTasks()).tasks.map((t) => t.taskId);

  // A task cancelled while it runs: tasks/cancel answers cancelled, and
  // tasks/get says so after.
  const stream = client.experimental.tasks.callToolStream({ name: "slow_compute", arguments: { seconds: 60, label: "cancel-me" } });
  for await (const m of stream) {
    if (m.type === "taskCreated") {
      summary.cancelId = m.task.taskId;
      break;
    }
  }
  summary.cancelAnswer = (await client.experimental.tasks.cancelTask(summary.cancelId)).status;
  summary.afterCancel = (await client.experimental.tasks.getTask(summary.cancelId)).status;
  try {
    await client.experimental.tasks.cancelTask(summary.taskId);
    summary.cancelTerminal = "accepted";
  } catch (e) {
    summary.cancelTerminal = e.code;
  }
  try {
    await client.experimental.tasks.getTask("no-such-task");
    summary.unknown = "found";
  } catch (e) {
    summary.unknown = e.code;
  }

  // A tool that is not selected answers directly.
  summary.greet = text(await client.callTool({ name: "greet", arguments: { name: "TS" } }));
  await client.close();
} catch (e) {
  summary.error = String(e?.stack ?? e);
}
console.log(JSON.stringify(summary));
process.exit(0); // an open transport must not keep node running after an error
