# trickle.py PORT [BYTES_PER_S]: a "registry" on 127.0.0.1:PORT that answers /v2/ and then
# drips every manifest, chunked and without Content-Length, a few bytes a second (at most
# 400 s); it logs each request with the time since it started to stderr.
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, rate = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 4
T0 = time.monotonic()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, fmt, *a):
        sys.stderr.write("%7.2f %s\n" % (time.monotonic() - T0, fmt % a)); sys.stderr.flush()
    def do_HEAD(self):
        self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers()
    def do_GET(self):
        if self.path in ("/v2/", "/v2"):
            self.send_response(200); self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"{}")
            return
        if "/manifests/" not in self.path:
            return self.do_HEAD()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
        start, sent = time.monotonic(), 0
        try:
            while time.monotonic() - start < 400:
                self.wfile.write(b"%x\r\n%s\r\n" % (rate, b" " * rate)); self.wfile.flush()
                sent += rate; time.sleep(1)
        except OSError as e:
            sys.stderr.write("%7.2f client left after %.1f s, %d bytes sent (%s)\n" % (
                time.monotonic() - T0, time.monotonic() - start, sent, e.__class__.__name__))
            sys.stderr.flush()
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
