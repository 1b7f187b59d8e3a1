"""A stand-in for the seeds' gRPC text-to-speech server (real grpcio, no generated code: the
methods take and return raw bytes), run as its own process so a test can SIGKILL it.

    python3 grpc_tts.py NAME PORT LIFETIME_SECONDS

Methods of /maum.brain.tts.NgTtsService/:
  Echo      unary: b"NAME:" + request
  SpeakWav  server streaming: request b"N[,DELAY]" -> N chunks of 64 KiB (b"NAME:" + filler),
            DELAY seconds apart
  Fail      unary: aborts with PERMISSION_DENIED and the request as details
  Slow      unary: sleeps float(request) seconds, then b"late"; a cancelled call is recorded
  Cancelled unary: b"C,A": C calls of Slow this server saw cancelled, A running now
The process exits by itself after LIFETIME_SECONDS.
"""
import sys
import threading
import time
from concurrent import futures

import grpc

SERVICE = "maum.brain.tts.NgTtsService"
CHUNK = 64 * 1024


def serve(name, port):
    cancelled = [0]
    active = [0]
    lock = threading.Lock()

    def echo(req, ctx):
        return name.encode() + b":" + req

    def speak(req, ctx):
        parts = (req or b"4").split(b",")
        n, delay = int(parts[0]), float(parts[1]) if len(parts) > 1 else 0.0
        head = name.encode() + b":"
        for i in range(n):
            if delay and i:
                time.sleep(delay)
            yield head + bytes([65 + i % 26]) * (CHUNK - len(head))

    def fail(req, ctx):
        ctx.abort(grpc.StatusCode.PERMISSION_DENIED, "denied " + req.decode())

    def slow(req, ctx):
        done = threading.Event()

        def on_done():
            if not done.is_set():
                with lock:
                    cancelled[0] += 1
        ctx.add_callback(on_done)
        with lock:
            active[0] += 1
        deadline = time.monotonic() + float(req)
        while time.monotonic() < deadline and ctx.is_active():
            time.sleep(0.01)
        done.set()
        with lock:
            active[0] -= 1
        return b"late"

    def count(req, ctx):
        with lock:
            return f"{cancelled[0]},{active[0]}".encode()

    handlers = {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "SpeakWav": grpc.unary_stream_rpc_method_handler(speak),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Cancelled": grpc.unary_unary_rpc_method_handler(count),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server


if __name__ == "__main__":
    name, port, lifetime = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    s = serve(name, port)
    print("ready", flush=True)
    time.sleep(lifetime)
    s.stop(0)
