// The official TypeScript SDK's entrypoint calls, run by `tests/serve_entrypoint.rs`: a
// snapshot made with an `entrypoint` runs it in its sandboxes as the command
// `entrypoint_command` of the session `entrypoint`; `getEntrypointSession` shows it (with its
// exit code once it ends), `getEntrypointLogs()` answers stdout and stderr apart, and with
// callbacks it follows the logs, receiving a line written after the call, until the command
// ends. The list of sessions leaves it out; commands, input and deletion are the SDK's 400
// class; a default sandbox has none (its not-found class). The last line is `entrypoint: done`.

import assert from 'node:assert/strict'

import { Daytona, DaytonaBadRequestError, DaytonaNotFoundError } from '@daytonaio/sdk'

import { eventually, until } from './sdk_script.mjs'

const daytona = new Daytona()
const run = Math.random().toString(16).slice(2, 10)

// Writes a line to each stream, prints what is put in `poke` until `stop` appears, then exits 4.
const loop =
  'echo "out-$MARK"; echo "err-$MARK" >&2; ' +
  'while [ ! -e stop ]; do if [ -e poke ]; then cat poke; rm -f poke; fi; sleep 0.1; done; ' +
  'echo "bye-$MARK"; exit 4'
const entrypoint = ['/bin/sh', '-c', loop]
const quoted = (words) => words.map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ')

/** The entrypoint session's one command. */
async function entrypointCommand(sandbox) {
  const session = await sandbox.process.getEntrypointSession()
  assert.equal(session.sessionId, 'entrypoint')
  assert.deepEqual(
    session.commands.map((command) => command.id),
    ['entrypoint_command'],
  )
  return session.commands[0]
}

/** Expects `call` to reject with `errorClass` and a message holding `words`. */
async function rejects(call, errorClass, words) {
  await assert.rejects(call, (error) => {
    assert.ok(error instanceof errorClass, `${error}`)
    assert.ok(error.message.includes(words), error.message)
    return true
  })
}

console.log('entrypoint: a snapshot with an entrypoint')
const name = `entrypoint-ts-${run}`
await daytona.snapshot.create({ name, image: 'debian:12.1', entrypoint })
assert.deepEqual((await daytona.snapshot.get(name)).entrypoint, entrypoint)
const sandbox = await daytona.create({ snapshot: name, envVars: { MARK: run } })

console.log('entrypoint: its session and its logs, stdout and stderr apart')
const command = await entrypointCommand(sandbox)
assert.equal(command.command, quoted(entrypoint))
assert.equal(command.exitCode ?? null, null)
const logs = await eventually('both lines', async () => {
  const logs = await sandbox.process.getEntrypointLogs()
  return logs.stderr === `err-${run}\n` && logs
})
assert.equal(logs.stdout, `out-${run}\n`)
const sessions = await sandbox.process.listSessions()
assert.ok(!sessions.some((session) => session.sessionId === 'entrypoint'), JSON.stringify(sessions))

console.log('entrypoint: commands, input and deletion are refused')
await rejects(
  sandbox.process.executeSessionCommand('entrypoint', { command: 'true' }),
  DaytonaBadRequestError,
  "can't execute command in entrypoint session",
)
await rejects(
  sandbox.process.sendSessionCommandInput('entrypoint', 'entrypoint_command', 'x'),
  DaytonaBadRequestError,
  "can't send input to entrypoint session",
)
await rejects(sandbox.process.deleteSession('entrypoint'), DaytonaBadRequestError, "can't delete entrypoint session")

console.log('entrypoint: following the logs receives later lines until the command ends')
const out = []
const err = []
const following = sandbox.process.getEntrypointLogs(
  (chunk) => out.push(chunk),
  (chunk) => err.push(chunk),
)
await until(() => out.join(''), `out-${run}`)
await sandbox.fs.uploadFile(Buffer.from(`later-${run}\n`), 'poke')
await until(() => out.join(''), `later-${run}`)
await sandbox.fs.uploadFile(Buffer.from(''), 'stop')
await following
assert.equal(out.join(''), `out-${run}\nlater-${run}\nbye-${run}\n`)
assert.equal(err.join(''), `err-${run}\n`)
await eventually('the exit code', async () => (await entrypointCommand(sandbox)).exitCode === 4)
await sandbox.delete()
await daytona.snapshot.delete(await daytona.snapshot.get(name))

console.log('entrypoint: a default sandbox has none')
const plain = await daytona.create()
await assert.rejects(plain.process.getEntrypointSession(), DaytonaNotFoundError)
await assert.rejects(plain.process.getEntrypointLogs(), DaytonaNotFoundError)
await plain.delete()
console.log('entrypoint: done')
