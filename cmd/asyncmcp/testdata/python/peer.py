"""Python asyncmcp peer for the interoperability tests (python_interop_test.go).

Runs the Python asyncmcp as its users do: a low-level MCP server behind a
session manager, or an MCP ClientSession over a client transport. AWS access
comes from the environment (AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, keys).

  peer.py server --transport sqs|sns-sqs --queue-url URL
  peer.py client --transport sqs --queue-url URL --response-queue-url URL --steps STEPS
  peer.py client --transport sns-sqs --topic-arn ARN --response-topic-arn ARN \
      --response-queue-url URL --steps STEPS

STEPS is a comma-separated script: "list" (tools/list), "echo:TEXT"
(tools/call echo), "call:NAME" (tools/call NAME without arguments), "wait" (print WAITING, then wait until
--signal-file exists). The client prints one
line per step: "STEP <step> OK <json>" or "STEP <step> ERR <code> <message>".
The server prints "PEER_READY" once it polls, and stops when stdin closes.
"""

import argparse
import json
import os
import sys

import anyio
import boto3
import mcp.types as types
from mcp import ClientSession
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import McpError


def out(*parts):
    print(*parts, flush=True)


def build_server():
    app = Server("python-peer")

    @app.list_tools()
    async def list_tools():
        return [
            types.Tool(
                name="echo",
                description="Return the text argument unchanged.",
                inputSchema={"type": "object", "properties": {"text": {"type": "string"}}},
            )
        ]

    @app.call_tool()
    async def call_tool(name, arguments):
        if name != "echo":
            raise ValueError(f"unknown tool {name}")
        return [types.TextContent(type="text", text="py:" + str(arguments.get("text", "")))]

    return app


async def run_server(args):
    app = build_server()
    sqs = boto3.client("sqs")
    if args.transport == "sqs":
        from asyncmcp.sqs.manager import SqsSessionManager
        from asyncmcp.sqs.utils import SqsServerConfig

        cfg = SqsServerConfig(read_queue_url=args.queue_url, wait_time_seconds=1, poll_interval_seconds=0.05)
        manager = SqsSessionManager(app=app, config=cfg, sqs_client=sqs)
    else:
        from asyncmcp.sns_sqs.manager import SnsSqsSessionManager
        from asyncmcp.sns_sqs.utils import SnsSqsServerConfig

        cfg = SnsSqsServerConfig(sqs_queue_url=args.queue_url, wait_time_seconds=1, poll_interval_seconds=0.05)
        manager = SnsSqsSessionManager(app=app, config=cfg, sqs_client=sqs, sns_client=boto3.client("sns"))
    async with manager.run():
        out("PEER_READY")
        # Stop when the test closes stdin.
        await anyio.to_thread.run_sync(sys.stdin.read)


async def run_client(args):
    sqs = boto3.client("sqs")
    if args.transport == "sqs":
        from asyncmcp.sqs.client import sqs_client
        from asyncmcp.sqs.utils import SqsClientConfig

        cfg = SqsClientConfig(
            read_queue_url=args.queue_url,
            response_queue_url=args.response_queue_url,
            wait_time_seconds=1,
            poll_interval_seconds=0.05,
        )
        transport = sqs_client(cfg, sqs)
    else:
        from asyncmcp.sns_sqs.client import sns_sqs_client
        from asyncmcp.sns_sqs.utils import SnsSqsClientConfig

        cfg = SnsSqsClientConfig(
            sqs_queue_url=args.response_queue_url,
            sns_topic_arn=args.topic_arn,
            wait_time_seconds=1,
            poll_interval_seconds=0.05,
        )
        transport = sns_sqs_client(cfg, sqs, boto3.client("sns"), args.response_topic_arn)
    async with transport as (read, write):
        async with ClientSession(read, write) as session:
            with anyio.fail_after(args.step_timeout):
                init = await session.initialize()
            out("STEP initialize OK", json.dumps({"server": init.serverInfo.name}))
            for step in args.steps.split(","):
                if step == "wait":
                    out("WAITING")
                    with anyio.fail_after(args.step_timeout):
                        while not os.path.exists(args.signal_file):
                            await anyio.sleep(0.05)
                    out("STEP wait OK {}")
                    continue
                try:
                    with anyio.fail_after(args.step_timeout):
                        if step == "list":
                            res = await session.list_tools()
                            got = sorted(t.name for t in res.tools)
                        elif step.startswith("echo:"):
                            res = await session.call_tool("echo", {"text": step[5:]})
                            got = [c.text for c in res.content if c.type == "text"]
                        elif step.startswith("call:"):
                            res = await session.call_tool(step[5:], {})
                            got = [c.text for c in res.content if c.type == "text"]
                        else:
                            raise SystemExit(f"unknown step {step}")
                    out("STEP", step, "OK", json.dumps(got))
                except McpError as e:
                    out("STEP", step, "ERR", e.error.code, e.error.message)
                except TimeoutError:
                    out("STEP", step, "TIMEOUT")
    out("CLIENT_DONE")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("--transport", choices=["sqs", "sns-sqs"], required=True)
    p.add_argument("--queue-url")
    p.add_argument("--response-queue-url")
    p.add_argument("--topic-arn")
    p.add_argument("--response-topic-arn")
    p.add_argument("--steps", default="list")
    p.add_argument("--step-timeout", type=float, default=30)
    p.add_argument("--signal-file")
    args = p.parse_args()
    anyio.run(run_server if args.role == "server" else run_client, args)


if __name__ == "__main__":
    main()
