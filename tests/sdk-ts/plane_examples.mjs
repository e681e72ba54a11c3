// Daytona's own control-plane examples, condensed, as a user runs them against `ralph-town
// serve` with the official TypeScript SDK: lifecycle, auto-archive, auto-delete, network
// settings, pagination, region, volumes, declarative images (with a build context), fork and
// snapshot, and state events. Run by `tests/serve_sdk_plane.rs`; each part checks what the
// example would print, and the script prints `plane-examples-ts: done` at the end.
//
// Changed from the examples only where they need the internet: images start from `Image.base`
// (`Image.debianSlim` installs packages with apt and pip first), and nothing is installed. Each
// image also carries the run's tag (`EXAMPLE_RUN`), so that it is built, not found built.

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

import {
  Daytona,
  DaytonaBadRequestError,
  DaytonaNotFoundError,
  DaytonaUnprocessableEntityError,
  Image,
  SandboxListSortDirection,
  SandboxListSortField,
  SandboxState,
} from '@daytonaio/sdk'

const RUN = randomUUID().slice(0, 8)

function step(name) {
  console.log(`plane-examples-ts: ${name}`)
}

async function rejects(promise, errorClass, pattern) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof errorClass, String(error))
    assert.match(error.message, pattern)
    return true
  })
}

async function until(what, check) {
  for (let tries = 0; tries < 300; tries++) {
    if (check()) return
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  assert.fail(`never: ${what}`)
}

async function lifecycle(daytona) {
  step('lifecycle')
  const sandbox = await daytona.create()
  await sandbox.setLabels({ public: 'true' })
  await sandbox.stop()
  assert.equal(sandbox.state, 'stopped')
  await sandbox.start()
  assert.equal(sandbox.state, 'started')
  const existing = await daytona.get(sandbox.id)
  assert.equal(existing.labels.public, 'true')
  const reply = await existing.process.executeCommand('echo "Hello World from exec!"', undefined, undefined, 10)
  assert.deepEqual([reply.exitCode, reply.result], [0, 'Hello World from exec!\n'])
  const dev = await daytona.create({ labels: { env: 'dev', run: RUN } })
  const listed = []
  for await (const found of daytona.list({
    limit: 10,
    labels: { env: 'dev', run: RUN },
    states: [SandboxState.STARTED],
    sort: SandboxListSortField.CREATED_AT,
    order: SandboxListSortDirection.DESC,
  })) {
    listed.push(found.id)
  }
  assert.deepEqual(listed, [dev.id])
  await sandbox.delete()
  await dev.delete()
  await assert.rejects(daytona.get(sandbox.id), DaytonaNotFoundError)
}

async function autoArchive(daytona) {
  step('auto-archive')
  const first = await daytona.create()
  assert.equal(first.autoArchiveInterval, 10080)
  await first.setAutoArchiveInterval(60)
  assert.equal(first.autoArchiveInterval, 60)
  const most = await daytona.create({ autoArchiveInterval: 0 })
  assert.equal(most.autoArchiveInterval, 43200)
  const day = await daytona.create({ autoArchiveInterval: 1440 })
  assert.equal(day.autoArchiveInterval, 1440)
  for (const sandbox of [first, most, day]) await sandbox.delete()
}

async function autoDelete(daytona) {
  step('auto-delete')
  const first = await daytona.create()
  const seen = [first.autoDeleteInterval]
  for (const minutes of [60, 0, -1]) {
    await first.setAutoDeleteInterval(minutes)
    seen.push(first.autoDeleteInterval)
  }
  assert.deepEqual(seen, [-1, 60, 0, -1])
  const day = await daytona.create({ autoDeleteInterval: 1440 })
  assert.equal(day.autoDeleteInterval, 1440)
  await first.delete()
  await day.delete()
}

// This machine's loopback, as a sandbox with a network of its own reaches it: its gateway.
const GATEWAY = '10.0.2.2'

async function connects(sandbox, port, host = '127.0.0.1') {
  const probe = `python3 -c "import socket; socket.create_connection(('${host}', ${port}), 2)"`
  return (await sandbox.process.executeCommand(probe)).exitCode === 0
}

async function networkSettings(daytona) {
  step('network settings: open, blocked, allow lists, and changes in place')
  const sandbox = await daytona.create()
  assert.equal(sandbox.networkBlockAll, false)
  assert.equal(sandbox.networkAllowList ?? null, null)
  const blocked = await daytona.create({ networkBlockAll: true })
  assert.equal(blocked.networkBlockAll, true)
  const allowed = await daytona.create({ networkAllowList: '10.0.2.0/24' })
  assert.equal(allowed.networkAllowList, '10.0.2.0/24')
  // A server of this machine: the open sandbox reaches it on the loopback it shares, the one
  // allowed its gateway through the gateway, the blocked one not at all.
  const server = net.createServer((socket) => socket.end())
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = server.address().port
  assert.ok(await connects(sandbox, port))
  assert.ok(await connects(allowed, port, GATEWAY))
  assert.ok(!(await connects(blocked, port, GATEWAY)))
  assert.ok(!(await connects(blocked, port)))
  step('network settings change in place')
  await blocked.updateNetworkSettings({ networkAllowList: '10.0.2.2/32' })
  assert.equal(blocked.networkBlockAll, false)
  assert.equal(blocked.networkAllowList, '10.0.2.2/32')
  assert.ok(await connects(blocked, port, GATEWAY))
  await allowed.updateNetworkSettings({ networkAllowList: '192.168.1.0/16,10.0.0.0/24' })
  assert.ok(!(await connects(allowed, port, GATEWAY)))
  await allowed.updateNetworkSettings({ networkBlockAll: false })
  assert.equal(allowed.networkAllowList ?? null, null)
  assert.ok(await connects(allowed, port, GATEWAY))
  server.close()
  await rejects(
    daytona.create({ networkAllowList: '10.0.0.0/8,not-a-network' }),
    DaytonaBadRequestError,
    /not-a-network/,
  )
  await rejects(
    daytona.create({ domainAllowList: 'example.com,not a domain' }),
    DaytonaBadRequestError,
    /`not a domain`/,
  )
  const listed = await daytona.create({ domainAllowList: '*.Example.com' })
  assert.equal((await daytona.get(listed.id)).domainAllowList, '*.example.com')
  await listed.delete()
  // An open sandbox with nothing of its own running gets a network of its own.
  await sandbox.process.executeCommand('nohup sleep 318 >/dev/null 2>&1 &')
  await rejects(
    sandbox.updateNetworkSettings({ networkBlockAll: true }),
    DaytonaUnprocessableEntityError,
    /sleep 318/,
  )
  await sandbox.process.executeCommand("pkill -f 'sleep 31[8]'; while pgrep -f 'sleep 31[8]'; do sleep 0.1; done")
  await sandbox.updateNetworkSettings({ networkBlockAll: true })
  assert.equal(sandbox.networkBlockAll, true)
  for (const each of [blocked, allowed, sandbox]) await each.delete()
}

async function pagination(daytona) {
  step('pagination of snapshots')
  const total = (await daytona.snapshot.list()).total
  const second = await daytona.snapshot.list(2, 10)
  assert.equal(second.total, total)
  assert.equal(second.items.length, Math.max(0, Math.min(10, total - 10)))
}

async function region() {
  step('region: `us` and `eu` are not found')
  const daytona = new Daytona({ target: 'us' })
  for (const [name, regionId] of [[`us-${Date.now()}`, 'us'], [`eu-${Date.now()}`, 'eu']]) {
    await rejects(
      daytona.snapshot.create({ name, image: Image.base('debian:12'), regionId }),
      DaytonaNotFoundError,
      /Region not found/,
    )
    await rejects(daytona.create({ snapshot: name }), DaytonaNotFoundError, /Region not found/)
  }
}

async function volumes(daytona) {
  step('volumes')
  const volume = await daytona.volume.get(`my-volume-${RUN}`, true)
  const mounted = (mountPath, subpath) =>
    daytona.create({ language: 'typescript', volumes: [{ volumeId: volume.id, mountPath, subpath }] })
  const first = await mounted('/home/daytona/volume')
  await first.fs.createFolder('/home/daytona/volume/new-dir', '755')
  await first.fs.uploadFile(Buffer.from('Hello, World!'), '/home/daytona/volume/new-file.txt')
  const second = await mounted('/home/daytona/my-files')
  const names = (await second.fs.listFiles('/home/daytona/my-files')).map((file) => file.name).sort()
  assert.deepEqual(names, ['new-dir', 'new-file.txt'])
  assert.equal((await first.fs.downloadFile('/home/daytona/volume/new-file.txt')).toString(), 'Hello, World!')
  const third = await mounted('/home/daytona/subpath', 'users/alice')
  await third.fs.uploadFile(Buffer.from("Hello from Alice's subpath!"), '/home/daytona/subpath/alice-file.txt')
  const shown = await second.fs.downloadFile('/home/daytona/my-files/users/alice/alice-file.txt')
  assert.equal(shown.toString(), "Hello from Alice's subpath!")
  for (const sandbox of [first, second, third]) await daytona.delete(sandbox)
}

async function declarativeImage(daytona) {
  step('declarative image: a snapshot with a local file, then a sandbox from a dynamic image')
  const local = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'plane-')), 'file_example.txt')
  fs.writeFileSync(local, 'Hello, World!')
  const image = Image.base('python:3.12-slim-bookworm')
    .runCommands('mkdir -p /home/daytona/workspace')
    .workdir('/home/daytona/workspace')
    .env({ MY_ENV_VAR: 'My Environment Variable', EXAMPLE_RUN: RUN })
    .addLocalFile(local, '/home/daytona/workspace/file_example.txt')
  const logs = []
  const name = `node-example:${RUN}`
  await daytona.snapshot.create(
    { name, image, resources: { cpu: 1, memory: 1, disk: 3 } },
    { onLogs: (line) => logs.push(line) },
  )
  assert.ok(logs.some((line) => line.includes('mkdir -p /home/daytona/workspace')), logs.join('\n'))
  const first = await daytona.create({ snapshot: name })
  const content = await first.process.executeCommand('cat file_example.txt && echo " $MY_ENV_VAR"')
  assert.equal(content.result, 'Hello, World! My Environment Variable\n')
  await daytona.delete(first)
  const dynamic = Image.base('python:3.13-slim-bookworm')
    .runCommands('mkdir -p /home/daytona/project')
    .workdir('/home/daytona/project')
    .env({ NODE_ENV: 'development', EXAMPLE_RUN: RUN })
  logs.length = 0
  const second = await daytona.create({ image: dynamic }, { timeout: 0, onSnapshotCreateLogs: (line) => logs.push(line) })
  assert.ok(logs.some((line) => line.includes('mkdir -p /home/daytona/project')), logs.join('\n'))
  const reply = await second.process.executeCommand('pwd && echo $NODE_ENV')
  assert.equal(reply.result, '/home/daytona/project\ndevelopment\n')
  await daytona.delete(second)
}

async function forkAndSnapshot(daytona) {
  step('fork, then a snapshot of the fork')
  const sandbox = await daytona.create()
  await sandbox.process.executeCommand('echo "Hello from the original sandbox" > /home/daytona/test.txt')
  const forked = await daytona.fork(sandbox)
  const inFork = await forked.process.executeCommand('cat /home/daytona/test.txt')
  assert.equal(inFork.result.trim(), 'Hello from the original sandbox')
  await forked.process.executeCommand('echo "Modified in fork" >> /home/daytona/test.txt')
  const name = `my-fork-snapshot-${RUN}`
  await forked.createSnapshot(name)
  const fromSnapshot = await daytona.create({ snapshot: name })
  const copied = await fromSnapshot.process.executeCommand('cat /home/daytona/test.txt')
  assert.equal(copied.result.trim(), 'Hello from the original sandbox\nModified in fork')
  const original = await sandbox.process.executeCommand('cat /home/daytona/test.txt')
  assert.equal(original.result.trim(), 'Hello from the original sandbox')
  for (const made of [fromSnapshot, forked, sandbox]) await made.delete()
}

async function events(daytona) {
  step('state events reach a sandbox object without a refresh')
  const sandbox = await daytona.create()
  assert.equal(daytona.eventDispatcher?.isConnected, true)
  const other = await daytona.get(sandbox.id)
  await sandbox.sandboxApi.stopSandbox(sandbox.id)
  await until('the stop reaches both objects', () => sandbox.state === 'stopped' && other.state === 'stopped')
  await sandbox.delete()
}

const daytona = new Daytona()
await lifecycle(daytona)
await autoArchive(daytona)
await autoDelete(daytona)
await networkSettings(daytona)
await pagination(daytona)
await region()
await volumes(daytona)
await declarativeImage(daytona)
await forkAndSnapshot(daytona)
await events(daytona)
await daytona[Symbol.asyncDispose]()
console.log('plane-examples-ts: done')
