"""The official Daytona Python SDK's signed file URLs against `ralph-town serve`:
`sandbox.download_url`, `sandbox.upload_url` and `sandbox.rotate_signing_key`.

Run by `tests/serve_signed_urls.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an
in-process server. The URLs are used with plain HTTP clients and no credentials, as the SDK
documents; a tampered, expired or rotated URL must be refused. Any failure exits non-zero with a
traceback.
"""

import os
import time
import urllib.parse

import requests
from daytona._utils.file_url_signing import compute_file_url_signature
from sdk_script import client, fresh_sandbox, run_script, stepper


step = stepper("sdk-signed")


def with_query(url, **changes):
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query.update(changes)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def main():
    key = os.environ["DAYTONA_API_KEY"]
    daytona = client()
    _, sandbox = fresh_sandbox(daytona, "sdk-signed")
    plain = requests.Session()
    plain.trust_env = False

    step("download_url: a plain GET, no credentials")
    sandbox.fs.upload_file(b"signed bytes\n", "share/report.txt")
    url = sandbox.download_url("share/report.txt")
    assert key not in url, "the API key is in the URL"
    reply = plain.get(url)
    assert reply.status_code == 200, (reply.status_code, reply.text)
    assert reply.content == b"signed bytes\n"
    assert plain.head(url).status_code == 200

    step("upload_url: multipart and a raw body")
    upload = sandbox.upload_url("incoming/form.bin")
    reply = plain.post(upload, files={"file": ("form.bin", b"from a form\n")})
    assert reply.status_code == 200, (reply.status_code, reply.text)
    assert reply.json() == {"name": "form.bin", "path": "incoming/form.bin", "type": "file"}
    assert sandbox.fs.download_file("incoming/form.bin") == b"from a form\n"
    raw = sandbox.upload_url("incoming/raw.bin", ttl_seconds=0)
    assert "expires=0" in raw
    reply = plain.post(raw, data=b"\x00raw\xff", headers={"content-type": "application/octet-stream"})
    assert reply.status_code == 200, (reply.status_code, reply.text)
    assert sandbox.fs.download_file("incoming/raw.bin") == b"\x00raw\xff"

    step("refusals: another path, another operation, expired, unsigned")
    other = with_query(url, path="share/other.txt")
    assert plain.get(other).status_code == 401
    assert plain.post(url.replace("/files/download", "/files/upload-v2")).status_code == 401
    signing_key = sandbox._ensure_signing_key()
    past = int(time.time()) - 10
    signature = compute_file_url_signature(signing_key, "GET", "share/report.txt", past)
    expired = with_query(url, expires=str(past), signature=signature)
    reply = plain.get(expired)
    assert reply.status_code == 401 and "expired" in reply.json()["message"], reply.text
    unsigned = with_query(url, signature="")
    assert plain.get(unsigned).status_code == 401
    for route in ("files", "files/info"):
        listing = url.replace("/files/download", f"/{route}")
        assert plain.get(listing).status_code == 401, route

    step("rotate_signing_key: earlier URLs stop working")
    sandbox.rotate_signing_key()
    assert plain.get(url).status_code == 401
    fresh = sandbox.download_url("share/report.txt")
    assert plain.get(fresh).content == b"signed bytes\n"

    sandbox.delete()
    step("done")


if __name__ == "__main__":
    run_script(main)
