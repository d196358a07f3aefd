"""Python asyncmcp peer for the interoperability tests (python_interop_test.go).

Runs the Python asyncmcp as its users do: a low-level MCP server behind a
session manager, or an MCP ClientSession over a client transport. AWS access
comes from the environment (AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, keys).

  peer.py server --transport sqs|sns-sqs --queue-url URL
  peer.py client --transport sqs --queue-url URL --response-queue-url URL --steps STEPS
  peer.py client --transport sns-sqs --topic-arn ARN --response-topic-arn ARN \
      --response-queue-url URL --steps STEPS
  peer.py server --transport webhook --port N       (endpoint /mcp/request)
  peer.py client --transport webhook --server-url URL --port N --steps STEPS
  peer.py proxy --transport sqs --queue-url URL --response-queue-url URL --port N

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

from contextlib import asynccontextmanager

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


async def run_webhook_server(args):
    import uvicorn
    from asyncmcp.webhook.manager import WebhookSessionManager
    from asyncmcp.webhook.utils import WebhookServerConfig

    manager = WebhookSessionManager(build_server(), WebhookServerConfig(), server_path="/mcp/request")
    async with manager.run():
        config = uvicorn.Config(app=manager.asgi_app(), host="127.0.0.1", port=args.port, log_level="warning")
        server = uvicorn.Server(config)
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve)
            while not server.started:
                await anyio.sleep(0.05)
            out("PEER_READY")
            await anyio.to_thread.run_sync(sys.stdin.read)
            server.should_exit = True


async def run_proxy(args):
    """The Python asyncmcp proxy: HTTP on --port, the SQS backend."""
    from asyncmcp.proxy import ProxyConfig, ProxyServer
    from asyncmcp.sqs.utils import SqsClientConfig

    backend = SqsClientConfig(
        read_queue_url=args.queue_url,
        response_queue_url=args.response_queue_url,
        wait_time_seconds=1,
        poll_interval_seconds=0.05,
    )
    proxy = ProxyServer(
        ProxyConfig(
            host="127.0.0.1",
            port=args.port,
            server_path="/mcp",
            backend_transport="sqs",
            backend_config=backend,
            backend_clients={"sqs_client": boto3.client("sqs")},
        )
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(proxy.run)
        await anyio.to_thread.run_sync(sys.stdin.read)
        tg.cancel_scope.cancel()


async def run_server(args):
    if args.transport == "webhook":
        return await run_webhook_server(args)
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


@asynccontextmanager
async def python_webhook_client(args):
    """The Python webhook client, with its receiver served on --port, and
    _meta.webhookUrl added to initialize (ClientSession does not know it)."""
    import uvicorn
    from asyncmcp.webhook.client import webhook_client
    from asyncmcp.webhook.utils import WebhookClientConfig
    from starlette.applications import Starlette
    from starlette.routing import Route

    url = f"http://127.0.0.1:{args.port}/webhook/response"
    async with webhook_client(WebhookClientConfig(server_url=args.server_url), "/webhook/response") as (read, write, client):
        app = Starlette(routes=[Route("/webhook/response", await client.get_webhook_callback(), methods=["POST"])])
        server = uvicorn.Server(uvicorn.Config(app=app, host="127.0.0.1", port=args.port, log_level="warning"))
        send, recv = anyio.create_memory_object_stream(0)

        async def add_webhook_url():
            async with recv:
                async for sm in recv:
                    root = sm.message.root
                    if isinstance(root, types.JSONRPCRequest) and root.method == "initialize":
                        params = dict(root.params or {})
                        params["_meta"] = dict(params.get("_meta") or {}, webhookUrl=url)
                        root.params = params
                    await write.send(sm)

        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve)
            tg.start_soon(add_webhook_url)
            while not server.started:
                await anyio.sleep(0.05)
            try:
                yield read, send
            finally:
                server.should_exit = True
                tg.cancel_scope.cancel()


async def run_client(args):
    if args.transport == "webhook":
        transport = python_webhook_client(args)
    elif args.transport == "sqs":
        sqs = boto3.client("sqs")
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
        sqs = boto3.client("sqs")
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
    p.add_argument("role", choices=["server", "client", "proxy"])
    p.add_argument("--transport", choices=["sqs", "sns-sqs", "webhook"], required=True)
    p.add_argument("--port", type=int, help="webhook: port to serve on (server) or receive deliveries on (client)")
    p.add_argument("--server-url", help="webhook client: the server's endpoint")
    p.add_argument("--queue-url")
    p.add_argument("--response-queue-url")
    p.add_argument("--topic-arn")
    p.add_argument("--response-topic-arn")
    p.add_argument("--steps", default="list")
    p.add_argument("--step-timeout", type=float, default=30)
    p.add_argument("--signal-file")
    args = p.parse_args()
    anyio.run({"server": run_server, "client": run_client, "proxy": run_proxy}[args.role], args)


if __name__ == "__main__":
    main()
