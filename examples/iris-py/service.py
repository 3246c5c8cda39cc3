#!/usr/bin/env python3
"""iris-py: the Iris logistic-regression model served with the standard
library's http.server; no third-party imports.

    POST /predict   {"features": [5.1, 3.5, 1.4, 0.2]} or {"instances": [[...], ...]}
                 -> {"predictions": ["setosa"], "probabilities": [[...]]}
    GET  /healthz, /v2/health/live, /v2/health/ready, /metadata

Usage: python3 service.py [--port N] [--host ADDR] [--model PATH]
  env PORT (default 3000), MODEL_PATH (default ../models/iris-py/weights.bin,
  the model's place when the working directory is the bento's src/).
  --port 0 picks a free port; the "listening on" line on stderr names it.
SIGTERM and SIGINT finish the requests in hand and exit 0.
"""
import argparse
import json
import math
import os
import signal
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 64 * 1024
CLASSES = ("setosa", "versicolor", "virginica")
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
DEFAULT_MODEL = "../models/iris-py/weights.bin"


class ModelError(Exception):
    pass


def load_model(path):
    """Read weights.bin: "IRISW001", uint32 n_features, uint32 n_classes,
    float32 W[n_classes][n_features], float32 b[n_classes], little-endian."""
    with open(path, "rb") as f:
        data = f.read(4096)
    if len(data) < 16 or data[:8] != b"IRISW001":
        raise ModelError(f"{path}: not an iris weights file (bad magic)")
    nf, nc = struct.unpack_from("<II", data, 8)
    if (nf, nc) != (len(FEATURES), len(CLASSES)):
        raise ModelError(f"{path}: expected {len(FEATURES)} features and {len(CLASSES)} classes, got {nf} and {nc}")
    size = 16 + 4 * (nc * nf + nc)
    if len(data) != size:
        raise ModelError(f"{path}: expected {size} bytes, got {len(data)}")
    vals = struct.unpack_from(f"<{nc * nf + nc}f", data, 16)
    if not all(math.isfinite(v) for v in vals):
        raise ModelError(f"{path}: weights contain NaN or infinity")
    w = [list(vals[c * nf:(c + 1) * nf]) for c in range(nc)]
    b = list(vals[nc * nf:])
    return w, b


def predict(model, x):
    w, b = model
    z = [sum(wc[j] * x[j] for j in range(len(x))) + bc for wc, bc in zip(w, b)]
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = sum(e)
    p = [v / s for v in e]
    return CLASSES[z.index(m)], p


class BadRequest(Exception):
    pass


def _reject_constant(name):
    raise BadRequest(f"number out of range: {name}")


def parse_body(raw):
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise BadRequest("body is not UTF-8")
    except RecursionError:
        raise BadRequest("JSON nested too deeply")
    except json.JSONDecodeError as e:
        raise BadRequest(f"malformed JSON: {e}")
    except ValueError as e:  # e.g. an integer past the int-to-str digit limit
        raise BadRequest(f"number out of range: {e}")
    if not isinstance(doc, dict):
        raise BadRequest("body must be a JSON object")
    has_f, has_i = "features" in doc, "instances" in doc
    if has_f == has_i:
        raise BadRequest('give one of "features" (one instance) or "instances" (a list)')
    rows = [doc["features"]] if has_f else doc["instances"]
    if not isinstance(rows, list):
        raise BadRequest('"instances" must be a list')
    if not rows:
        raise BadRequest('"instances" is empty')
    out = []
    for row in rows:
        if not isinstance(row, list):
            raise BadRequest(f"each instance must be an array of {len(FEATURES)} numbers")
        if len(row) != len(FEATURES):
            raise BadRequest(f"expected {len(FEATURES)} features per instance, got {len(row)}")
        for v in row:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise BadRequest("features must be numbers")
            try:
                ok = math.isfinite(float(v))
            except OverflowError:
                ok = False
            if not ok:
                raise BadRequest("number out of range")
        out.append([float(v) for v in row])
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "iris-py"
    sys_version = ""
    timeout = 5

    def send_json(self, status, obj, allow=None):
        body = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if allow:
            self.send_header("Allow", allow)
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def send_error_json(self, status, msg, allow=None):
        self.send_json(status, {"error": msg}, allow)

    def path_only(self):
        return self.path.split("?", 1)[0]

    def do_GET(self):
        path = self.path_only()
        if path == "/healthz":
            body = b"ok\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.close_connection = True
        elif path == "/v2/health/live":
            self.send_json(200, {"live": True})
        elif path == "/v2/health/ready":
            self.send_json(200, {"ready": True})
        elif path == "/metadata":
            self.send_json(200, {"name": "iris-py", "platform": "custom-logreg",
                                 "model": "multinomial logistic regression",
                                 "weights": self.server.model_path,
                                 "inputs": list(FEATURES), "outputs": list(CLASSES)})
        elif path == "/predict":
            self.send_error_json(405, "use POST for /predict", allow="POST")
        else:
            self.send_error_json(404, "not found")

    do_HEAD = do_GET

    def do_POST(self):
        path = self.path_only()
        if path in ("/healthz", "/v2/health/live", "/v2/health/ready", "/metadata"):
            self.send_error_json(405, "method not allowed", allow="GET, HEAD")
            return
        if path != "/predict":
            self.send_error_json(404, "not found")
            return
        if self.headers.get("Transfer-Encoding"):
            self.send_error_json(411, "chunked bodies are not supported; send Content-Length")
            return
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            self.send_error_json(411, "Content-Length required")
            return
        if len(lengths) > 1 or not lengths[0].strip().isdigit() or len(lengths[0].strip()) > 12:
            self.send_error_json(400, "invalid Content-Length")
            return
        n = int(lengths[0])
        if n > MAX_BODY:
            self.send_error_json(413, "request larger than 64 KiB")
            return
        try:
            raw = self.rfile.read(n)  # buffered: loops over partial reads
        except OSError:
            self.close_connection = True
            return
        if len(raw) != n:
            self.send_error_json(400, "connection closed before the whole body arrived")
            return
        try:
            rows = parse_body(raw)
        except BadRequest as e:
            self.send_error_json(400, f"invalid request body: {e}")
            return
        preds, probs = [], []
        for x in rows:
            label, p = predict(self.server.model, x)
            preds.append(label)
            probs.append([float(f"{v:.6g}") for v in p])
        self.send_json(200, {"predictions": preds, "probabilities": probs})

    def send_error(self, code, message=None, explain=None):
        # http.server's own errors (bad request line, 414, 501 ...) as JSON too
        self.close_connection = True
        try:
            self.send_json(code, {"error": message or self.responses.get(code, ("error",))[0]})
        except OSError:
            pass

    def log_message(self, fmt, *args):
        sys.stderr.write("iris-py: %s\n" % (fmt % args))


class Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True


def main():
    ap = argparse.ArgumentParser(description="iris-py prediction service")
    ap.add_argument("--port", type=int, default=None)
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--model", default=os.environ.get("MODEL_PATH") or DEFAULT_MODEL)
    args = ap.parse_args()
    port = args.port
    if port is None:
        try:
            port = int(os.environ.get("PORT") or 3000)
        except ValueError:
            ap.error(f"invalid PORT {os.environ.get('PORT')!r}")
    if not 0 <= port <= 65535:
        ap.error(f"invalid --port {port}")
    try:
        model = load_model(args.model)
    except (OSError, ModelError) as e:
        sys.stderr.write(f"iris-py: {e}\n")
        return 1

    srv = Server((args.host, port), Handler)
    srv.model, srv.model_path = model, args.model
    stopped = []

    def on_signal(sig, _frame):
        stopped.append(signal.Signals(sig).name)
        # shutdown() waits for serve_forever() to return, so not from this thread
        threading.Thread(target=srv.shutdown).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.stderr.write(f"iris-py: model {args.model} loaded; listening on {args.host}:{srv.server_address[1]}\n")
    sys.stderr.flush()
    srv.serve_forever()
    srv.server_close()
    sys.stderr.write(f"iris-py: {stopped[0] if stopped else 'shutdown'} received, exiting\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
