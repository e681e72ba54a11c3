// Daytona's guides to the control plane, as a user copies them, run with the official TypeScript
// SDK against `ralph-town serve` by `tests/serve_sdk_guidesplane.rs`: configuration, sandbox
// management and lifecycle, snapshots, the declarative builder (local files included), volumes,
// secrets, network limits, preview links, SSH access, regions and the errors a user meets. A step
// that needs the internet is changed only there (`Image.base` for `Image.debianSlim`, which
// installs with apt and pip first; no `pipInstall`). Every step asserts what the guide shows; the
// script prints `guidesplane-ts: done` at the end. One case per run (SWEEP_CASE): `guides`, or a
// regression case named after what once failed.

import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import * as sdk from '@daytonaio/sdk'

const { Daytona, Image } = sdk
const RUN = Math.random().toString(16).slice(2, 10)
const BASE = 'python:3.12-slim-bookworm'

const step = (name) => console.log(`guidesplane-ts: ${name}`)

// The output of `command` in `sandbox`, which must exit 0.
async function run(sandbox, command) {
  const reply = await sandbox.process.executeCommand(command)
  assert.equal(reply.exitCode, 0, `${command}: ${reply.result}`)
  return reply.result.trim()
}

// `promise` must reject with the SDK's error class `name`, its message holding `word`.
async function throwsSdk(name, promise, word = '') {
  const error = await promise.then(
    () => assert.fail(`${name} expected`),
    (caught) => caught,
  )
  assert.ok(error instanceof sdk[name], `${name} expected, got ${error.constructor.name}: ${error.message}`)
  assert.ok(error.message.includes(word), `${word} not in ${error.message}`)
}

async function ids(daytona) {
  const found = []
  for await (const sandbox of daytona.list()) found.push(sandbox.id)
  return found
}

// The status and body of a preview `url`, waiting while the server inside starts (502).
async function preview(url, headers = {}) {
  for (let attempt = 0; ; attempt++) {
    const reply = await fetch(url, { headers })
    if (reply.status !== 502 || attempt > 300) return [reply.status, await reply.text()]
    await new Promise((ok) => setTimeout(ok, 100))
  }
}

async function configuration() {
  step('configuration: in code and from the environment')
  const config = { apiKey: process.env.DAYTONA_API_KEY, apiUrl: process.env.DAYTONA_API_URL }
  assert.deepEqual((await ids(new Daytona(config))).sort(), (await ids(new Daytona())).sort())
  step('configuration: a wrong key is the SDK authentication error')
  await throwsSdk('DaytonaAuthenticationError', ids(new Daytona({ ...config, apiKey: 'dtn_wrong_key' })))
}

async function gettingStarted(daytona) {
  step('getting started: create, run code, delete')
  const sandbox = await daytona.create()
  assert.equal(sandbox.state, 'started')
  const response = await sandbox.process.executeCommand('echo "Hello, World!"')
  assert.equal(response.result.trim(), 'Hello, World!')
  await sandbox.delete()
  await throwsSdk('DaytonaNotFoundError', daytona.get(sandbox.id))
}

async function creationParameters(daytona) {
  step('create with a language and labels')
  const coded = await daytona.create({ language: 'typescript' })
  assert.equal(coded.labels['code-toolbox-language'], 'typescript')
  const labelled = await daytona.create({ labels: { SOME_LABEL: 'my-label' } })
  assert.equal(labelled.labels.SOME_LABEL, 'my-label')
  step('create with a name, env vars, public and every timer')
  const named = await daytona.create({
    name: `guide-${RUN}`,
    envVars: { NODE_ENV: 'production' },
    public: true,
    autoStopInterval: 0,
    autoArchiveInterval: 60,
    autoDeleteInterval: 120,
  })
  assert.deepEqual([named.name, named.public, named.autoStopInterval], [`guide-${RUN}`, true, 0])
  assert.deepEqual([named.autoArchiveInterval, named.autoDeleteInterval], [60, 120])
  assert.equal(await run(named, 'echo $NODE_ENV'), 'production')
  step('create with resources from an image')
  const sized = await daytona.create({ image: Image.base(BASE), resources: { cpu: 2, memory: 4, disk: 8 } }, { timeout: 0 })
  assert.deepEqual([sized.cpu, sized.memory, sized.disk], [2, 4, 8])
  step('an ephemeral sandbox is deleted once stopped')
  const ephemeral = await daytona.create({ ephemeral: true, autoStopInterval: 5 })
  assert.deepEqual([ephemeral.autoDeleteInterval, ephemeral.autoStopInterval], [0, 5])
  await ephemeral.stop()
  for (let attempt = 0; (await ids(daytona)).includes(ephemeral.id); attempt++) {
    assert.ok(attempt < 300, 'the ephemeral sandbox stays')
    await new Promise((ok) => setTimeout(ok, 200))
  }
  for (const sandbox of [coded, labelled, sized]) await sandbox.delete()
  return named
}

async function lifecycle(daytona, sandbox) {
  step('lifecycle: stop, start, list and get')
  await sandbox.stop()
  assert.equal(sandbox.state, 'stopped')
  await sandbox.start()
  assert.equal(sandbox.state, 'started')
  assert.ok((await ids(daytona)).includes(sandbox.id))
  assert.equal((await daytona.get(sandbox.name)).id, sandbox.id)
  step('lifecycle: labels and timers')
  await sandbox.setLabels({ stage: 'guide' })
  await sandbox.setAutostopInterval(30)
  await sandbox.setAutoArchiveInterval(90)
  await sandbox.setAutoDeleteInterval(0)
  await sandbox.setAutoDeleteInterval(-1)
  await sandbox.refreshData()
  assert.equal(sandbox.labels.stage, 'guide')
  assert.deepEqual([sandbox.autoStopInterval, sandbox.autoArchiveInterval, sandbox.autoDeleteInterval], [30, 90, -1])
  step('lifecycle: resize started, then stopped')
  await sandbox.resize({ cpu: 2, memory: 4 })
  assert.deepEqual([sandbox.cpu, sandbox.memory], [2, 4])
  await sandbox.stop()
  await sandbox.resize({ cpu: 4, memory: 8, disk: 20 })
  await sandbox.start()
  assert.deepEqual([sandbox.cpu, sandbox.memory, sandbox.disk], [4, 8, 20])
  step('lifecycle: recover, only when recoverable')
  assert.ok(!sandbox.recoverable)
  await throwsSdk('DaytonaError', sandbox.recover())
  step('lifecycle: fork and snapshot of a sandbox')
  await run(sandbox, 'echo forked > kept.txt')
  const forkedSandbox = await sandbox._experimental_fork({ name: `my-forked-sandbox-${RUN}` })
  assert.equal(await run(forkedSandbox, 'cat kept.txt'), 'forked')
  const again = await daytona._experimental_fork(sandbox, { name: `my-forked-again-${RUN}` })
  assert.equal(await run(again, 'cat kept.txt'), 'forked')
  await sandbox._experimental_createSnapshot(`my-sandbox-snapshot-${RUN}`)
  assert.equal((await daytona.snapshot.get(`my-sandbox-snapshot-${RUN}`)).state, 'active')
  await daytona.delete(forkedSandbox)
  await again.delete()
  step('lifecycle: archive, then start again')
  await sandbox.stop()
  await sandbox.archive()
  assert.equal(sandbox.state, 'archived')
  await sandbox.start()
  assert.equal(await run(sandbox, 'cat kept.txt'), 'forked')
  await sandbox.delete()
}

async function snapshots(daytona) {
  step('snapshots: create from an image with resources, streaming the build log')
  const logs = []
  const name = `my-snapshot-${RUN}`
  await daytona.snapshot.create(
    { name, image: Image.base(BASE), resources: { cpu: 2, memory: 4, disk: 8 } },
    { onLogs: (line) => logs.push(line) },
  )
  assert.ok(logs.length > 0, 'no build log')
  const snapshot = await daytona.snapshot.get(name)
  assert.deepEqual([snapshot.state, snapshot.cpu, snapshot.mem, snapshot.disk], ['active', 2, 4, 8])
  assert.ok((await daytona.snapshot.list()).items.some((each) => each.name === name))
  step('snapshots: a sandbox from it, with every timer the guide shows')
  for (const timers of [{ autoStopInterval: 0 }, { autoArchiveInterval: 60 }, { autoDeleteInterval: 60 }]) {
    const sandbox = await daytona.create({ snapshot: name, ...timers })
    assert.deepEqual([sandbox.snapshot, sandbox.cpu], [name, 2])
    await sandbox.delete()
  }
  step('snapshots: delete')
  await daytona.snapshot.delete(snapshot)
  await throwsSdk('DaytonaNotFoundError', daytona.snapshot.get(name))
}

async function declarativeBuilder(daytona) {
  step('declarative builder: an image built on create, streaming the build log')
  const logs = []
  const declarativeImage = Image.base(BASE).workdir('/home/daytona')
  let sandbox = await daytona.create(
    { image: declarativeImage },
    { timeout: 0, onSnapshotCreateLogs: (line) => logs.push(line) },
  )
  assert.ok(logs.length > 0, 'no build log')
  assert.equal(await sandbox.getWorkDir(), '/home/daytona')
  await sandbox.delete()
  step('declarative builder: a pre-built snapshot of an image')
  const snapshotName = `data-science-snapshot-${RUN}`
  await daytona.snapshot.create({ name: snapshotName, image: declarativeImage }, { onLogs: (line) => logs.push(line) })
  sandbox = await daytona.create({ snapshot: snapshotName })
  assert.equal(await sandbox.getWorkDir(), '/home/daytona')
  await sandbox.delete()
  step('declarative builder: local files, env, workdir, commands, entrypoint, cmd, Dockerfile commands')
  const folder = mkdtempSync(join(tmpdir(), 'guidesplane-'))
  writeFileSync(join(folder, 'package.json'), `{"name": "guide-${RUN}"}\n`)
  mkdirSync(join(folder, 'src'))
  writeFileSync(join(folder, 'src', 'index.js'), 'console.log("from src")\n')
  const image = Image.base(BASE)
    .addLocalFile(join(folder, 'package.json'), '/home/daytona/package.json')
    .addLocalDir(join(folder, 'src'), '/home/daytona/src')
    .env({ PROJECT_ROOT: '/home/daytona' })
    .workdir('/home/daytona')
    .runCommands('mkdir -p /home/daytona/workspace', 'echo built > /home/daytona/workspace/mark')
    .entrypoint(['/bin/bash'])
    .cmd(['/bin/bash'])
    .dockerfileCommands(['RUN echo "Hello, world!" > /home/daytona/hello'])
  sandbox = await daytona.create({ image }, { timeout: 0 })
  const seen = await run(sandbox, 'echo $PROJECT_ROOT; cat package.json src/index.js workspace/mark hello')
  assert.deepEqual(seen.split('\n'), [
    '/home/daytona',
    `{"name": "guide-${RUN}"}`,
    'console.log("from src")',
    'built',
    'Hello, world!',
  ])
  await sandbox.delete()
  step('declarative builder: from a Dockerfile, and extended')
  writeFileSync(join(folder, 'Dockerfile'), `FROM ${BASE}\nENV FROM_FILE=yes\nCOPY package.json /opt/package.json\n`)
  for (const built of [Image.fromDockerfile(join(folder, 'Dockerfile')), Image.fromDockerfile(join(folder, 'Dockerfile')).env({ MORE: '1' })]) {
    sandbox = await daytona.create({ image: built }, { timeout: 0 })
    assert.equal(await run(sandbox, 'echo $FROM_FILE; cat /opt/package.json'), `yes\n{"name": "guide-${RUN}"}`)
    await sandbox.delete()
  }
}

async function volumes(daytona) {
  step('volumes: create, get or create, list')
  const created = await daytona.volume.create(`my-awesome-volume-${RUN}`)
  assert.equal((await daytona.volume.get(`my-awesome-volume-${RUN}`, true)).id, created.id)
  const volume = await daytona.volume.get(`my-volume-${RUN}`, true)
  const volumes = await daytona.volume.list()
  assert.ok([created.name, volume.name].every((name) => volumes.some((vol) => vol.name === name)))
  step('volumes: mounted whole and by subpath')
  const mountDir1 = '/home/daytona/volume'
  const sandbox1 = await daytona.create({ language: 'typescript', volumes: [{ volumeId: volume.id, mountPath: mountDir1 }] })
  const sandbox2 = await daytona.create({
    language: 'typescript',
    volumes: [{ volumeId: volume.id, mountPath: mountDir1, subpath: 'users/alice' }],
  })
  await sandbox2.fs.uploadFile(Buffer.from('Hello from Daytona volume!'), '/home/daytona/volume/example.txt')
  assert.equal((await sandbox1.fs.downloadFile(`${mountDir1}/users/alice/example.txt`)).toString(), 'Hello from Daytona volume!')
  await daytona.delete(sandbox1)
  await daytona.delete(sandbox2)
  step('volumes: the data outlives its sandboxes; delete')
  const again = await daytona.create({ volumes: [{ volumeId: volume.id, mountPath: '/home/daytona/data' }] })
  assert.equal(await run(again, 'cat /home/daytona/data/users/alice/example.txt'), 'Hello from Daytona volume!')
  await again.delete()
  for (const each of [created, volume]) await daytona.volume.delete(await daytona.volume.get(each.name))
}

async function secrets(daytona) {
  step('secrets: a sandbox sees the placeholder, never the value')
  const secret = await daytona.secret.create({ name: `anthropic_${RUN}`, value: `sk-guide-${RUN}`, hosts: ['api.anthropic.com'] })
  assert.ok(secret.placeholder && secret.placeholder !== `sk-guide-${RUN}`)
  assert.ok((await daytona.secret.list()).items.some((each) => each.id === secret.id))
  const sandbox = await daytona.create({ secrets: { ANTHROPIC_API_KEY: secret.name } })
  assert.equal(await run(sandbox, 'echo $ANTHROPIC_API_KEY'), secret.placeholder)
  await sandbox.delete()
  await daytona.secret.delete(secret.id)
  await throwsSdk('DaytonaNotFoundError', daytona.secret.get(secret.id))
}

async function networkLimits(daytona) {
  step('network limits: an allow list and a blocked sandbox')
  const list = '208.80.154.232/32,199.16.156.103/32,192.168.1.0/24'
  const allowed = await daytona.create({ networkAllowList: list })
  assert.equal(allowed.networkAllowList, list)
  const blocked = await daytona.create({ networkBlockAll: true })
  assert.ok(blocked.networkBlockAll)
  const port = new URL(process.env.DAYTONA_API_URL).port
  const reach = (host) => `python3 -c "import socket; socket.create_connection(('${host}', ${port}), 3)"`
  const opened = await daytona.create()
  assert.equal((await opened.process.executeCommand(reach('127.0.0.1'))).exitCode, 0)
  for (const host of ['127.0.0.1', '10.0.2.2']) {
    assert.notEqual((await blocked.process.executeCommand(reach(host))).exitCode, 0, host)
  }
  for (const sandbox of [allowed, blocked, opened]) await sandbox.delete()
  step('network limits: an entry that is no IPv4 CIDR is refused, naming it')
  await throwsSdk('DaytonaError', daytona.create({ networkAllowList: 'wikipedia.org' }), 'wikipedia.org')
}

async function previewAndSsh(daytona) {
  const sandbox = await daytona.create()
  await sandbox.process.executeCommand('mkdir -p site && echo preview-works > site/index.html')
  await sandbox.process.executeCommand('cd site && nohup python3 -m http.server 3000 > /dev/null 2>&1 &')
  step('preview: a standard link with its token in the header')
  const previewInfo = await sandbox.getPreviewLink(3000)
  assert.deepEqual(await preview(previewInfo.url, { 'x-daytona-preview-token': previewInfo.token }), [200, 'preview-works\n'])
  assert.ok([401, 403].includes((await preview(previewInfo.url))[0]))
  step('preview: a signed link, then revoked')
  const signedUrl = await sandbox.getSignedPreviewUrl(3000, 3600)
  assert.deepEqual(await preview(signedUrl.url), [200, 'preview-works\n'])
  await sandbox.expireSignedPreviewUrl(3000, signedUrl.token)
  assert.ok([401, 403, 404].includes((await preview(signedUrl.url))[0]))
  step('web terminal: its port serves the terminal page')
  const terminal = await sandbox.getPreviewLink(22222)
  const answer = await fetch(terminal.url, { headers: { 'x-daytona-preview-token': terminal.token } })
  assert.equal(answer.status, 200)
  assert.match(answer.headers.get('content-type'), /^text\/html/)
  const page = await answer.text()
  assert.match(page, /<html/)
  assert.match(page, /xterm\.js/)
  step('ssh: create, validate and revoke access, one token or all')
  const sshAccess = await sandbox.createSshAccess(60)
  assert.ok((await sandbox.validateSshAccess(sshAccess.token)).valid)
  await sandbox.revokeSshAccess(sshAccess.token)
  assert.ok(!(await sandbox.validateSshAccess(sshAccess.token)).valid)
  const tokens = [(await sandbox.createSshAccess(60)).token, (await sandbox.createSshAccess()).token]
  await sandbox.revokeSshAccess()
  for (const token of tokens) assert.ok(!(await sandbox.validateSshAccess(token)).valid)
  await sandbox.delete()
}

async function regionsAndErrors(daytona) {
  step('regions: a target this server does not have is the SDK not-found error')
  const config = { apiKey: process.env.DAYTONA_API_KEY, apiUrl: process.env.DAYTONA_API_URL }
  await throwsSdk('DaytonaNotFoundError', new Daytona({ ...config, target: 'eu' }).create(), 'Region')
  step('errors: what does not exist is the SDK not-found error')
  await throwsSdk('DaytonaNotFoundError', daytona.get('sandbox-abc123'))
  await throwsSdk('DaytonaNotFoundError', daytona.snapshot.get('no-such-snapshot'))
  await throwsSdk('DaytonaNotFoundError', daytona.volume.get('no-such-volume'))
}

const cases = {
  async guides(daytona) {
    await configuration()
    await gettingStarted(daytona)
    await lifecycle(daytona, await creationParameters(daytona))
    await snapshots(daytona)
    await declarativeBuilder(daytona)
    await volumes(daytona)
    await secrets(daytona)
    await networkLimits(daytona)
    await previewAndSsh(daytona)
    await regionsAndErrors(daytona)
  },
  async 'allow-list-of-eleven'(daytona) {
    step('an allow list of more than 10 networks is the 400 Daytona gives')
    const ten = Array.from({ length: 10 }, (_, host) => `10.0.0.${host}/32`).join(',')
    const eleven = `${ten},10.0.0.10/32`
    await throwsSdk('DaytonaError', daytona.create({ networkAllowList: eleven }), 'cannot contain more than 10 networks')
    const sandbox = await daytona.create({ networkAllowList: ten })
    assert.equal(sandbox.networkAllowList, ten)
    await throwsSdk('DaytonaError', sandbox.updateNetworkSettings({ networkAllowList: eleven }), 'more than 10 networks')
    await sandbox.delete()
  },
  async 'signed-preview-over-a-day'(daytona) {
    step('a signed preview link lives from 1 second to 24 hours')
    const sandbox = await daytona.create()
    for (const seconds of [0, 86401]) {
      await throwsSdk('DaytonaError', sandbox.getSignedPreviewUrl(3000, seconds), 'between 1 second and 24 hours')
    }
    for (const seconds of [1, 86400]) assert.ok((await sandbox.getSignedPreviewUrl(3000, seconds)).url)
    await sandbox.delete()
  },
}

await cases[process.env.SWEEP_CASE](new Daytona())
console.log('guidesplane-ts: done')
