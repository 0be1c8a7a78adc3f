#!/usr/bin/env python3
"""A scripted OpenAI-compatible SSE server (stdlib only) for measuring how `modelbench run` and
`vllm bench serve` define their metrics on the SAME stream (docs/metrics.md, "modelbench and vllm
bench serve"). Not a test double of the test suite: a measuring aid, run by measure.sh.

Every response, whatever the request, is the scenario given on the command line, each event sent
at a fixed time after the request arrived (milliseconds):

  chat        role-only chunk (content "") at 100, "A" at 200, "" (an empty-text chunk, e.g. a
              special token) at 300, "B" at 400, "C" at 500, finish chunk (content "") at 600,
              usage (prompt 7, completion 4) at 700, [DONE] at 800
  completions text "" at 100, "A" at 200, "" at 300, "B" at 400, "C" at 500, usage at 700,
              [DONE] at 800
  nocontent   chat: role-only chunk at 100, finish chunk (content "") at 200, usage (completion
              1) at 300, [DONE] at 400
  nochoices   completions: usage (completion 0) at 100, [DONE] at 200 — no chunk with `choices`

usage: scripted_sse_server.py PORT [chat|completions|nocontent|nochoices]
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCENARIO = {"name": "chat"}


def chat(delta, finish=None):
    return {"id": "chatcmpl-x", "object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def text(t, finish=None):
    return {"id": "cmpl-x", "object": "text_completion", "model": "m",
            "choices": [{"index": 0, "text": t, "finish_reason": finish}]}


def usage(kind, completion):
    return {"id": "x", "object": kind, "model": "m", "choices": [],
            "usage": {"prompt_tokens": 7, "completion_tokens": completion,
                      "total_tokens": 7 + completion}}


def events(name):
    if name == "chat":
        return [(100, chat({"role": "assistant", "content": ""})), (200, chat({"content": "A"})),
                (300, chat({"content": ""})), (400, chat({"content": "B"})),
                (500, chat({"content": "C"})), (600, chat({"content": ""}, "length")),
                (700, usage("chat.completion.chunk", 4)), (800, "[DONE]")]
    if name == "completions":
        return [(100, text("")), (200, text("A")), (300, text("")), (400, text("B")),
                (500, text("C", "length")), (700, usage("text_completion", 4)), (800, "[DONE]")]
    if name == "nocontent":
        return [(100, chat({"role": "assistant", "content": ""})),
                (200, chat({"content": ""}, "length")),
                (300, usage("chat.completion.chunk", 1)), (400, "[DONE]")]
    if name == "nochoices":
        return [(100, usage("text_completion", 0)), (200, "[DONE]")]
    raise SystemExit(f"unknown scenario {name}")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = b'{"object":"list","data":[{"id":"m","object":"model"}]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        t0 = time.perf_counter()
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for at_ms, ev in events(SCENARIO["name"]):
            time.sleep(max(0.0, t0 + at_ms / 1000 - time.perf_counter()))
            data = ev if isinstance(ev, str) else json.dumps(ev)
            payload = f"data: {data}\n\n".encode()
            self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


if __name__ == "__main__":
    SCENARIO["name"] = sys.argv[2] if len(sys.argv) > 2 else "chat"
    events(SCENARIO["name"])
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"serving scenario {SCENARIO['name']} on {sys.argv[1]}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
