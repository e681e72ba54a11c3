#!/usr/bin/env python3
"""Measures the CPU time `serve` spends on one preview request: starts `ralph-town serve` (the
binary given) on a fresh state root, a sandbox running `python3 -m http.server`, and reads
utime+stime of serve's /proc/<pid>/stat around N preview requests (and N `/api/health` requests
for comparison), each on a connection of its own.

    cargo build && scripts/bench-preview.py target/debug/ralph-town [N]
"""
import json, os, subprocess, sys, tempfile, time, urllib.request

binary, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200
home = tempfile.mkdtemp(prefix="pm-home-")
key, listen, app_port = "measure-key-123456", "127.0.0.1:3917", 8765
env = dict(os.environ, RALPH_TOWN_HOME=home, RALPH_TOWN_SERVE_API_KEY=key)
serve = subprocess.Popen([binary, "serve", "--listen", listen], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
base = f"http://{listen}"

def call(method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, response.read()

def cpu():
    fields = open(f"/proc/{serve.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

try:
    for _ in range(300):
        try:
            call("GET", "/api/health"); break
        except Exception:
            time.sleep(0.1)
    sandbox = json.loads(call("POST", "/api/sandbox", {})[1])["id"]
    call("POST", f"/toolbox/{sandbox}/process/execute",
         {"command": f"sh -c 'python3 -m http.server {app_port} --bind 127.0.0.1 > /dev/null 2>&1 &'"})
    link = json.loads(call("GET", f"/api/sandbox/{sandbox}/ports/{app_port}/preview-url")[1])
    preview = {"x-daytona-preview-token": link["token"]}
    path = link["url"][len(base):] + "/"
    for _ in range(300):
        try:
            call("GET", path, headers=preview); break
        except Exception:
            time.sleep(0.1)
    for _ in range(10):
        call("GET", path, headers=preview)
        call("GET", "/api/health")
    processes = sum(1 for name in os.listdir("/proc") if name.isdigit())
    for label, target, headers in [("health", "/api/health", None), ("preview", path, preview)]:
        before = cpu()
        for _ in range(n):
            status, _ = call("GET", target, headers=headers)
            assert status == 200, status
        spent = cpu() - before
        print(f"{label}: {spent * 1000 / n:.2f} ms serve CPU per request over {n} ({processes} processes)")
    call("DELETE", f"/api/sandbox/{sandbox}")
finally:
    serve.terminate(); serve.wait()
    subprocess.run([binary, "gc"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
