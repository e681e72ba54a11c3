// The official Daytona TypeScript SDK builds images and opens preview links against
// `ralph-town serve`. Run by `tests/serve_sdk_build.rs` with DAYTONA_API_URL and DAYTONA_API_KEY
// pointing at an in-process server. A declarative `Image` is built while `onSnapshotCreateLogs`
// follows the build logs; a failing image fails the create with the build's reason; a snapshot
// is built with `onLogs`; a web server in the sandbox is fetched through `getPreviewLink` and a
// signed preview URL. Any failure exits non-zero with its stack.

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { Daytona, Image } from '@daytonaio/sdk'

function step(name) {
  console.log(`sdk-ts-build: ${name}`)
}

// A web server on a port the kernel picks as it binds, which it writes down once it listens:
// a port probed free and released first may be taken by then on a busy machine.
const WEB_SERVER =
  'import http.server, os; ' +
  "server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler); " +
  "open('port.tmp', 'w').write(str(server.server_address[1])); os.rename('port.tmp', 'port'); " +
  'server.serve_forever()'

/** The port the web server in `sandbox` listens on, once it does (within 60 s). */
async function webServerPort(sandbox) {
  const deadline = Date.now() + 60_000
  for (;;) {
    const written = (await sandbox.process.executeCommand('cat port 2>/dev/null')).result.trim()
    if (written) return Number(written)
    assert.ok(Date.now() < deadline, 'the web server never wrote down its port')
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** Status and body of GET `url`, waiting while the server inside starts (502). */
async function fetchPage(url, headers = {}) {
  const deadline = Date.now() + 30_000
  for (;;) {
    const response = await fetch(url, { headers })
    const body = await response.text()
    if (response.status !== 502 || Date.now() > deadline) return [response.status, body]
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const daytona = new Daytona()
const run = randomUUID().slice(0, 8)

step('create from an Image, following its build logs')
const image = Image.base('node:22-bookworm-slim')
  .runCommands(`mkdir -p /opt/sdkts-${run} && echo built-${run} > /opt/sdkts-${run}/file`)
  .env({ SDK_IMAGE: `image-${run}` })
const logs = []
const sandbox = await daytona.create(
  { image, language: 'typescript' },
  { timeout: 180, onSnapshotCreateLogs: (chunk) => logs.push(chunk) },
)
assert.equal(sandbox.state, 'started')
const text = logs.join('\n')
assert.ok(text.includes('cannot be pulled here'), text)
assert.ok(text.includes(`mkdir -p /opt/sdkts-${run}`), text)
assert.ok(text.includes('Successfully built daytona-'), text)
const built = await sandbox.process.executeCommand(`cat /opt/sdkts-${run}/file && echo $SDK_IMAGE`)
assert.equal(built.exitCode, 0, built.result)
assert.deepEqual(built.result.trim().split(/\s+/), [`built-${run}`, `image-${run}`])

step("an image whose step fails fails the create with the build's reason")
const brokenLogs = []
await assert.rejects(
  daytona.create(
    { image: Image.base('debian:12').runCommands(`echo broken-${run} && exit 5`), labels: { 'sdk-ts-build': run } },
    { timeout: 180, onSnapshotCreateLogs: (chunk) => brokenLogs.push(chunk) },
  ),
  (error) => {
    assert.match(String(error), /exited with code 5/)
    return true
  },
)
assert.ok(brokenLogs.join('\n').includes(`broken-${run}`), brokenLogs.join('\n'))
for await (const leftover of daytona.list({ labels: { 'sdk-ts-build': run } })) {
  assert.equal(leftover.state, 'build_failed')
  await daytona.delete(leftover)
}

step('copy local files into an image: the build context the SDK uploads')
const context = mkdtempSync(join(tmpdir(), 'sdk-ts-context-'))
writeFileSync(join(context, 'file.txt'), `file-${run}\n`)
mkdirSync(join(context, 'dir', 'sub'), { recursive: true })
writeFileSync(join(context, 'dir', 'sub', 'inner.txt'), `inner-${run}\n`)
const copying = Image.base('debian:12')
  .addLocalFile(join(context, 'file.txt'), `/opt/context-${run}/file.txt`)
  .addLocalDir(join(context, 'dir'), `/opt/context-${run}/dir`)
const copied = await daytona.create({ image: copying }, { timeout: 180 })
const seen = await copied.process.executeCommand(
  `cat /opt/context-${run}/file.txt /opt/context-${run}/dir/sub/inner.txt`,
)
assert.equal(seen.exitCode, 0, seen.result)
assert.deepEqual(seen.result.trim().split(/\s+/), [`file-${run}`, `inner-${run}`])
await copied.delete()

step('build a snapshot from an Image with onLogs')
const snapshotLogs = []
const snapshot = await daytona.snapshot.create(
  {
    name: `sdkts-built-${run}`,
    image: Image.base('debian:12').runCommands(`echo snapshot-${run} > /opt/snapshot-${run}`),
  },
  { onLogs: (chunk) => snapshotLogs.push(chunk) },
)
assert.equal(snapshot.state, 'active')
assert.ok(snapshotLogs.join('\n').includes(`snapshot-${run}`), snapshotLogs.join('\n'))
const fromSnapshot = await daytona.create({ snapshot: snapshot.name })
const read = await fromSnapshot.process.executeCommand(`cat /opt/snapshot-${run}`)
assert.equal(read.result.trim(), `snapshot-${run}`)

step('a web server in the sandbox, through its preview link')
await sandbox.process.executeCommand(`echo page-${run} > page.txt`)
await sandbox.process.createSession('web')
await sandbox.process.executeSessionCommand('web', { command: `python3 -c "${WEB_SERVER}"`, runAsync: true })
const port = await webServerPort(sandbox)
const link = await sandbox.getPreviewLink(port)
let [status, body] = await fetchPage(`${link.url}/page.txt`, { 'x-daytona-preview-token': link.token })
assert.deepEqual([status, body.trim()], [200, `page-${run}`])
;[status] = await fetchPage(`${link.url}/page.txt`)
assert.equal(status, 401)

step('and through a signed preview URL')
const signed = await sandbox.getSignedPreviewUrl(port, 120)
assert.equal(signed.port, port)
;[status, body] = await fetchPage(`${signed.url}/page.txt`)
assert.deepEqual([status, body.trim()], [200, `page-${run}`])
await sandbox.expireSignedPreviewUrl(port, signed.token)
;[status] = await fetchPage(`${signed.url}/page.txt`)
assert.equal(status, 401)

await sandbox.delete()
await fromSnapshot.delete()
step('done')
