// fauxqs-launch starts the fauxqs SQS/SNS emulator for asyncmcp-go tests.
//
// Unlike the fauxqs CLI it listens on 127.0.0.1 only, on the port given in
// FAUXQS_PORT (0, the default, lets the kernel pick a free one), and builds
// queue URLs from the request Host header so they read
// http://127.0.0.1:PORT/000000000000/NAME and stay reachable from Go.
// When it is ready it prints exactly one line to stdout:
//
//	FAUXQS_READY {"port":PORT,"region":"REGION"}
//
// It exits on SIGTERM/SIGINT or when stdin is closed.
import { buildApp } from "fauxqs";
import { SqsStore } from "./node_modules/fauxqs/dist/sqs/sqsStore.js";
import { SnsStore } from "./node_modules/fauxqs/dist/sns/snsStore.js";

const region = process.env.FAUXQS_DEFAULT_REGION || "us-east-1";
const port = Number.parseInt(process.env.FAUXQS_PORT || "0", 10);
const level = process.env.FAUXQS_LOG_LEVEL || "warn";

const sqsStore = new SqsStore();
sqsStore.host = ""; // empty: queue URLs use the request Host header
sqsStore.region = region;
const snsStore = new SnsStore();
snsStore.region = region;

const app = buildApp({ logger: { level }, stores: { sqsStore, snsStore } });
await app.listen({ port, host: "127.0.0.1" });
const actual = app.server.address().port;
process.stdout.write(`FAUXQS_READY ${JSON.stringify({ port: actual, region })}\n`);

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  try {
    await app.close();
  } finally {
    process.exit(0);
  }
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
process.stdin.on("end", shutdown);
process.stdin.on("error", shutdown);
process.stdin.resume();
