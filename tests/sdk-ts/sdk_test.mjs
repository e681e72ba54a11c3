// The official Daytona TypeScript SDK (`@daytonaio/sdk`, pinned in package-lock.json) against
// `ralph-town serve`. Run by `tests/serve_sdk_ts.rs` with DAYTONA_API_URL and DAYTONA_API_KEY
// pointing at an in-process server that delays every create. Each step asserts what the SDK
// returned; any failure exits non-zero with its stack.

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import { Daytona, DaytonaNotFoundError } from '@daytonaio/sdk'

import { until } from './sdk_script.mjs'

function step(name) {
  console.log(`sdk-ts: ${name}`)
}

const daytona = new Daytona()
const run = randomUUID().slice(0, 8)
const labels = { 'sdk-ts-run': run, role: 'tester' }

step('create, told by the events socket that it started')
// Every poll of the sandbox's state is held back until create returns, so only an event can
// tell create the sandbox started (the server delays creates; without events this times out).
const sandboxApi = daytona.sandboxApi
const getSandbox = sandboxApi.getSandbox.bind(sandboxApi)
const held = []
let holding = true
sandboxApi.getSandbox = (...args) =>
  holding ? new Promise((resolve) => held.push(() => resolve(getSandbox(...args)))) : getSandbox(...args)
let timer
const noEvent = new Promise((_, reject) => {
  timer = setTimeout(() => reject(new Error('create never returned: no event said the sandbox started')), 30_000)
})
const sandbox = await Promise.race([
  daytona.create({ labels, envVars: { SDK_GREETING: 'hello from ts' } }, { timeout: 60 }),
  noEvent,
])
clearTimeout(timer)
holding = false
held.forEach((release) => release())
assert.equal(sandbox.state, 'started')
assert.ok(held.length >= 1, 'create waited for the sandbox to start')

step('execute a command')
const executed = await sandbox.process.executeCommand('echo "$SDK_GREETING $((6 * 7))"')
assert.equal(executed.exitCode, 0)
assert.equal(executed.result.trim(), 'hello from ts 42')
const failed = await sandbox.process.executeCommand('exit 7')
assert.equal(failed.exitCode, 7)

step('upload and download a file')
const content = `bytes from the TypeScript SDK ${run}\n`
await sandbox.fs.uploadFile(Buffer.from(content), 'sdk-ts.txt')
const downloaded = await sandbox.fs.downloadFile('sdk-ts.txt')
assert.equal(downloaded.toString(), content)

step('list by labels')
const other = await daytona.create({ labels: { 'sdk-ts-run': run, role: 'other' } }, { timeout: 30 })
const found = []
for await (const listed of daytona.list({ labels })) {
  found.push(listed.id)
}
assert.deepEqual(found, [sandbox.id])
await other.delete()

step('SSH access')
const access = await sandbox.createSshAccess(5)
assert.equal(access.sandboxId, sandbox.id)
assert.ok(access.sshCommand.includes(access.token), access.sshCommand)
const validation = await sandbox.validateSshAccess(access.token)
assert.equal(validation.valid, true)
assert.equal(validation.sandboxId, sandbox.id)
await sandbox.revokeSshAccess(access.token)
assert.equal((await sandbox.validateSshAccess(access.token)).valid, false)

step('PTY: create, send, resize, reconnect, exit')
let output = ''
const decoder = new TextDecoder()
const onData = (bytes) => {
  output += decoder.decode(bytes)
}
const pty = await sandbox.process.createPty({
  id: `pty-${run}`,
  cols: 91,
  rows: 17,
  envs: { PTY_GREETING: 'hello-pty' },
  onData,
})
await pty.sendInput('stty size; echo "greeting=$PTY_GREETING"\n')
await until(() => output, 'greeting=hello-pty')
assert.ok(output.includes('17 91'), output)
const resized = await pty.resize(120, 33)
assert.equal(resized.cols, 120)
assert.equal(resized.rows, 33)
await pty.sendInput('stty size\n')
await until(() => output, '33 120')
const sessions = await sandbox.process.listPtySessions()
assert.ok(sessions.some((session) => session.id === `pty-${run}` && session.active), JSON.stringify(sessions))
await pty.disconnect()
output = ''
const again = await sandbox.process.connectPty(`pty-${run}`, { onData })
await again.sendInput('echo "again-$((40 + 2))"\n')
await until(() => output, 'again-42')
await again.sendInput('exit 3\n')
const exited = await again.wait()
assert.equal(exited.exitCode, 3)

step('PTY: kill')
output = ''
const doomed = await sandbox.process.createPty({ id: `doomed-${run}`, onData })
await doomed.sendInput('echo ready-to-die\n')
await until(() => output, 'ready-to-die')
await doomed.kill()
const killed = await doomed.wait()
assert.equal(killed.exitCode, 137)
const left = await sandbox.process.listPtySessions()
assert.ok(!left.some((session) => session.id === `doomed-${run}`), JSON.stringify(left))

step('delete')
await sandbox.delete()
await assert.rejects(daytona.get(sandbox.id), DaytonaNotFoundError)

step('done')
process.exit(0)
