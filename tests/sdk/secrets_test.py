"""The organisation's secret vault through the official Daytona Python SDK, against
`ralph-town serve`: create, get, update, list in cursor pages, delete, a duplicate name, secrets
mounted on create and with `update_secrets`, the placeholder the sandbox sees, and requests from
the sandbox through the egress proxy to the test's own upstream servers (plain HTTP and HTTPS),
which the Rust side then inspects.

Run by `tests/serve_secrets.rs` with DAYTONA_API_URL and DAYTONA_API_KEY, SECRET_VALUE (the value
to store, never printed), UPSTREAM_HTTP and UPSTREAM_HTTPS (`scheme://127.0.0.1:port`) and
UPSTREAM_PORTS (`http,https`). Any failure exits non-zero with a traceback.
"""

import os

from daytona import CreateSandboxFromSnapshotParams
from daytona.common.secret import CreateSecretParams, UpdateSecretParams
from daytona_api_client.exceptions import ApiException, NotFoundException
from sdk_script import client, run_script, shell, stepper

step = stepper("sdk-secrets")


# A WebSocket client for inside the sandbox, on the standard library only: through the egress
# proxy in `HTTP_PROXY` to SCHEME://127.0.0.1:PORT/SCHEME (ws in absolute form, wss in a CONNECT
# tunnel, trusting the CA bundle of `SSL_CERT_FILE`) with `Authorization: Bearer TOKEN`; sends
# "hi" and prints the answer.
WEBSOCKET_CLIENT = r"""
import base64, os, socket, ssl, sys, urllib.parse

scheme, port, token = sys.argv[1], sys.argv[2], sys.argv[3]
proxy = urllib.parse.urlsplit(os.environ["HTTP_PROXY"])
credential = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()
authorization = f"Proxy-Authorization: Basic {credential}\r\n"
connection = socket.create_connection((proxy.hostname, proxy.port), timeout=10)

def head():
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += connection.recv(1)
    return answer

if scheme == "wss":
    connection.sendall(
        f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{authorization}\r\n"
        .encode()
    )
    assert head().startswith(b"HTTP/1.1 200"), "CONNECT refused"
    context = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    connection = context.wrap_socket(connection, server_hostname="127.0.0.1")
    target, authorization = "/wss", ""
else:
    target = f"http://127.0.0.1:{port}/ws"
connection.sendall((
    f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{authorization}"
    f"Authorization: Bearer {token}\r\n"
    "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
).encode())
answer = head()
assert answer.startswith(b"HTTP/1.1 101"), answer
mask = b"\x01\x02\x03\x04"
payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(b"hi"))
connection.sendall(b"\x81" + bytes([0x80 | 2]) + mask + payload)
head = connection.recv(2)
length = head[1] & 0x7F
body = b""
while len(body) < length:
    body += connection.recv(length - len(body))
print(body.decode(), end="")
"""


def api_status(call):
    """The HTTP status of the generated client's error `call` raises."""
    try:
        call()
    except ApiException as error:
        return error.status
    raise AssertionError("expected an API error")


def curl(sandbox, url, headers):
    """`curl` in the sandbox with `headers` (shell words, expanded there); must answer 200."""
    words = " ".join(f'-H "{header}"' for header in headers)
    code = shell(sandbox, f"curl -sS -o /dev/null -w '%{{http_code}}' {words} {url}")
    assert code == "200", (url, code)


def main():
    daytona = client()
    value = os.environ["SECRET_VALUE"]
    http, https = os.environ["UPSTREAM_HTTP"], os.environ["UPSTREAM_HTTPS"]
    http_port, https_port = os.environ["UPSTREAM_PORTS"].split(",")

    step("vault: create, get, update, duplicate, bad names")
    token = daytona.secret.create(
        CreateSecretParams(
            name="upstream_token", value=value, description="the upstream's", hosts=["127.0.0.1"]
        )
    )
    assert token.placeholder and value not in token.placeholder, token.placeholder
    assert value not in token.model_dump_json()
    other = daytona.secret.create(
        CreateSecretParams(name="other-host", value=f"{value}-other", hosts=["*.example.com"])
    )
    free = daytona.secret.create(CreateSecretParams(name="free", value=f"{value}-free"))
    assert free.hosts == [] and other.hosts == ["*.example.com"], (free.hosts, other.hosts)
    assert daytona.secret.get(token.id).placeholder == token.placeholder
    dup = CreateSecretParams(name="upstream_token", value="x")
    assert api_status(lambda: daytona.secret.create(dup)) == 409
    bad = CreateSecretParams(name="1-starts-with-a-digit", value="x")
    assert api_status(lambda: daytona.secret.create(bad)) == 400
    updated = daytona.secret.update(token.id, UpdateSecretParams(description="renamed"))
    assert updated.description == "renamed" and updated.placeholder == token.placeholder
    assert updated.hosts == ["127.0.0.1"] and updated.updated_at >= token.updated_at

    step("vault: pages, name filter, sort, delete")
    for index in range(5):
        daytona.secret.create(CreateSecretParams(name=f"page-{index}", value=f"{value}-{index}"))
    names, cursor, pages = [], None, 0
    while True:
        page = daytona.secret.list(cursor=cursor, limit=2, name="PAGE-", sort="name", order="asc")
        assert page.total == 5, page.total
        names += [secret.name for secret in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert names == [f"page-{index}" for index in range(5)] and pages == 3, (names, pages)
    stamps = [secret.created_at for secret in daytona.secret.list(limit=200).items]
    assert stamps == sorted(stamps, reverse=True), "not newest first by default"
    gone = daytona.secret.list(name="page-0").items[0]
    daytona.secret.delete(gone.id)
    try:
        daytona.secret.get(gone.id)
        raise AssertionError("a deleted secret is still there")
    except NotFoundException:
        pass
    assert daytona.secret.list(name="page-").total == 4
    assert daytona.secret.list().total == 7

    step("mounted on create: the sandbox sees the placeholder")
    sandbox = daytona.create(
        CreateSandboxFromSnapshotParams(
            name="sdk-secrets",
            secrets={"UPSTREAM_TOKEN": "upstream_token", "OTHER_TOKEN": "other-host"},
        )
    )
    assert shell(sandbox, 'printf %s "$UPSTREAM_TOKEN"') == token.placeholder
    assert shell(sandbox, 'printf %s "$OTHER_TOKEN"') == other.placeholder

    step("a sandbox with an allow list reaches the proxy on its own loopback, and nothing else")
    blocked = daytona.create(
        CreateSandboxFromSnapshotParams(
            network_allow_list="127.0.0.0/8", secrets={"UPSTREAM_TOKEN": "upstream_token"}
        )
    )
    assert shell(blocked, 'printf %s "$UPSTREAM_TOKEN"') == token.placeholder
    curl(blocked, f"{http}/http-blocked", ["Authorization: Bearer $UPSTREAM_TOKEN"])
    curl(blocked, f"{https}/https-blocked", ["Authorization: Bearer $UPSTREAM_TOKEN"])
    direct = shell(blocked, f"curl -s --noproxy '*' -o /dev/null -w '%{{http_code}}' {http}/direct || true")
    assert direct == "000", direct

    step("blocked, the proxy is no way out: nothing is sent")
    blocked.update_network_settings(network_block_all=True)
    refused = shell(blocked, f"curl -s -o /dev/null -w '%{{http_code}}' -H \"Authorization: Bearer $UPSTREAM_TOKEN\" {http}/http-refused")
    assert refused == "403", refused

    step("egress: values only to allowed hosts")
    headers = ["Authorization: Bearer $UPSTREAM_TOKEN", "X-Other: $OTHER_TOKEN"]
    curl(sandbox, f"{http}/http-allowed", headers)
    curl(sandbox, f"http://localhost:{http_port}/http-by-name", headers)
    curl(sandbox, f"{https}/https-allowed", headers)
    curl(sandbox, f"https://localhost:{https_port}/https-by-name", headers)

    step("mounted by update: replaces the set")
    sandbox.update_secrets({"FREE_TOKEN": "free"})
    assert shell(sandbox, 'printf %s "$FREE_TOKEN"') == free.placeholder
    assert shell(sandbox, 'printf %s "${UPSTREAM_TOKEN-unset}"') == "unset"
    curl(
        sandbox,
        f"{http}/http-mounted-later",
        ["Authorization: Bearer $FREE_TOKEN", f"X-Old: {token.placeholder}"],
    )
    print(f"sandbox {sandbox.id}", flush=True)

    step("a WebSocket through the proxy: the upgrade is substituted, then joined")
    sandbox.fs.upload_file(WEBSOCKET_CLIENT.encode(), "ws_client.py")
    for scheme, port in [("ws", http_port), ("wss", https_port)]:
        echoed = shell(sandbox, f"python3 ws_client.py {scheme} {port} \"$FREE_TOKEN\"")
        assert echoed == "echo hi", (scheme, echoed)

    step("a fork keeps the secrets, with a proxy credential of its own")
    forked = sandbox.fork()
    assert shell(forked, 'printf %s "$FREE_TOKEN"') == free.placeholder
    proxies = {shell(each, 'printf %s "$HTTP_PROXY"') for each in (sandbox, forked)}
    assert len(proxies) == 2, proxies
    curl(forked, f"{http}/http-forked", ["Authorization: Bearer $FREE_TOKEN"])
    print(f"fork {forked.id}", flush=True)
    step("done")


if __name__ == "__main__":
    run_script(main)
