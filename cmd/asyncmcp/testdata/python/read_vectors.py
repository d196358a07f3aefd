"""Reads the session-format golden vectors of docs/wire-format.md
(internal/wire/testdata, all but the *_modern_* ones)
with Python asyncmcp's own validators, as its server and client do, and
prints one line per vector: "<name> OK" or "<name> ERR <reason>".

  read_vectors.py DIR VERSION     (VERSION: 0.2.1 or head)
"""

import glob
import json
import os
import sys

from asyncmcp.common.utils import validate_and_parse_message, validate_message_attributes


def reply_to(version, message, key_meta, key_param):
    params = message.root.params or {}
    if version == "0.2.1":
        return params.get(key_param)
    return (params.get("_meta") or {}).get(key_meta)


def main():
    folder, version = sys.argv[1], sys.argv[2]
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        name = os.path.basename(path)[:-5]
        vector = json.load(open(path))
        if "attributes" not in vector or "_modern_" in name:
            # Stateless (2026-07-28) vectors: Python asyncmcp has no
            # stateless mode (docs/wire-format.md §8.5).
            continue
        err = validate_message_attributes(vector["attributes"])
        if err is not None:
            print(name, "ERR attributes:", err.error.message, flush=True)
            continue
        message, err = validate_and_parse_message(vector["body"])
        if err is not None:
            print(name, "ERR body:", err.error.message, flush=True)
            continue
        if "initialize_request_sqs" in name:
            got = reply_to(version, message.message, "responseQueueUrl", "response_queue_url")
            if got != vector["header"]["replyTo"]:
                print(name, "ERR reply-to read as", got, flush=True)
                continue
        if "initialize_request_snssqs" in name:
            got = reply_to(version, message.message, "clientTopicArn", "client_topic_arn")
            if got != vector["header"]["replyTo"]:
                print(name, "ERR reply-to read as", got, flush=True)
                continue
        print(name, "OK", flush=True)


if __name__ == "__main__":
    main()
