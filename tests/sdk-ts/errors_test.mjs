// What the official TypeScript SDK throws against `ralph-town serve` when a call cannot be done,
// one case per run (SWEEP_CASE), run by `tests/serve_sdk_errors.rs`: each check names the error
// class, the status and a part of the message Daytona's server (or its daemon) answers in the
// same situation, and the script prints `errors-ts: done` at the end.

import assert from 'node:assert/strict'

import {
  Daytona,
  DaytonaConflictError,
  DaytonaConnectionError,
  DaytonaFileNotFoundError,
  DaytonaGitBranchNotFoundError,
  DaytonaGitRepoNotFoundError,
  DaytonaNotFoundError,
  DaytonaTimeoutError,
  DaytonaValidationError,
  Image,
} from '@daytonaio/sdk'

function step(name) {
  console.log(`errors-ts: ${name}`)
}

/** Awaits `call`, which must throw an `errorClass` with `status` whose message holds `words`. */
async function fails(errorClass, status, call, ...words) {
  try {
    await call()
  } catch (error) {
    assert.ok(error instanceof errorClass, `expected ${errorClass.name}, got ${error.constructor.name}: ${error.message}`)
    assert.equal(error.statusCode, status, error.message)
    for (const word of words) assert.ok(error.message.includes(word), `${JSON.stringify(word)} not in ${error.message}`)
    return error
  }
  assert.fail(`expected ${errorClass.name}`)
}

const home = '/home/daytona'

const cases = {
  async missing(daytona) {
    const sandbox = await daytona.create()
    await sandbox.delete(60, true)
    const gone = `Sandbox with ID or name ${sandbox.id} not found`
    step('the control plane: 404 with Daytona\'s message')
    for (const [name, call] of [
      ['get', () => daytona.get(sandbox.id)],
      ['start', () => sandbox.start()],
      ['stop', () => sandbox.stop()],
      ['delete', () => sandbox.delete()],
      ['labels', () => sandbox.setLabels({ a: 'b' })],
      ['ttl', () => sandbox.setTtl(10)],
      ['autostop', () => sandbox.setAutostopInterval(10)],
      ['autoarchive', () => sandbox.setAutoArchiveInterval(10)],
      ['autodelete', () => sandbox.setAutoDeleteInterval(10)],
      ['resize', () => sandbox.resize({ cpu: 1 })],
      ['fork', () => sandbox.fork()],
      ['snapshot', () => sandbox.createSnapshot('errors-gone')],
      ['preview link', () => sandbox.getPreviewLink(3000)],
      ['ssh access', () => sandbox.createSshAccess()],
      ['archive', () => sandbox.archive()],
    ]) {
      step(name)
      await fails(DaytonaNotFoundError, 404, call, gone)
    }
    step('the toolbox: 404 naming the sandbox')
    for (const [name, call] of [
      ['exec', () => sandbox.process.executeCommand('true')],
      ['files', () => sandbox.fs.listFiles(home)],
      ['git', () => sandbox.git.status(home)],
      ['session', () => sandbox.process.createSession('s')],
      ['upload', () => sandbox.fs.uploadFile(Buffer.from('x'), `${home}/x`)],
    ]) {
      step(name)
      await fails(DaytonaNotFoundError, 404, call, `sandbox ${sandbox.id} not found`)
    }
  },

  // An upload refused before its body was read left the connection to be closed after the
  // answer, without saying so: the SDK's next call on it failed with `EPIPE` or a hang-up.
  async 'after-refused-upload'(daytona) {
    const gone = await daytona.create()
    await gone.delete(60, true)
    const other = await daytona.create()
    await other.stop()
    const payload = Buffer.alloc(512 * 1024, 'x')
    for (let round = 0; round < 3; round++) {
      step(`round ${round}: an upload to a deleted sandbox, then a download from it`)
      await fails(DaytonaNotFoundError, 404, () => gone.fs.uploadFile(payload, `${home}/x`), 'not found')
      await fails(DaytonaNotFoundError, 404, () => gone.fs.downloadFile(`${home}/x`))
      step(`round ${round}: an upload to a stopped sandbox, then a command in it`)
      await fails(DaytonaConflictError, 409, () => other.fs.uploadFile(payload, `${home}/x`), '(state: stopped)')
      await fails(DaytonaConflictError, 409, () => other.process.executeCommand('true'), '(state: stopped)')
    }
  },

  async states(daytona) {
    const sandbox = await daytona.create()
    step('start of a started sandbox does nothing')
    await sandbox.start()
    step('archive, a disk resize and a smaller CPU of a started sandbox: 400')
    await fails(DaytonaValidationError, 400, () => sandbox.archive(), 'Sandbox is not stopped')
    await fails(DaytonaValidationError, 400, () => sandbox.resize({ disk: 5 }), 'Disk resize')
    await sandbox.resize({ cpu: 2 })
    await fails(DaytonaValidationError, 400, () => sandbox.resize({ cpu: 1 }), 'decrease the number of CPU cores')
    await sandbox.stop()
    step('the toolbox of a stopped sandbox: 409 saying its state')
    for (const call of [
      () => sandbox.process.executeCommand('true'),
      () => sandbox.fs.listFiles(home),
      () => sandbox.git.status(home),
      () => sandbox.process.createSession('s'),
    ]) {
      await fails(DaytonaConflictError, 409, call, 'Sandbox is not started (state: stopped)')
    }
    step('stop and fork of a stopped sandbox: 400')
    await fails(DaytonaValidationError, 400, () => sandbox.stop(), 'Sandbox is not in a stoppable state')
    await fails(DaytonaValidationError, 400, () => sandbox.fork(), 'Sandbox must be in started state to fork')
    step('waiting for a start that never comes: the SDK\'s timeout')
    await fails(DaytonaTimeoutError, undefined, () => sandbox.waitUntilStarted(0.5), 'timeout')
  },

  async inputs(daytona) {
    const name = `errors-ts-${Math.random().toString(16).slice(2, 10)}`
    const sandbox = await daytona.create({ name })
    step('a duplicate name: 409; an unknown snapshot: 400; an unknown volume: 404')
    await fails(DaytonaConflictError, 409, () => daytona.create({ name }), `Sandbox with name ${name} already exists`)
    await fails(DaytonaValidationError, 400, () => daytona.create({ snapshot: 'no-such-snapshot' }), 'Snapshot no-such-snapshot not found')
    await fails(
      DaytonaNotFoundError,
      404,
      () => daytona.create({ volumes: [{ volumeId: 'no-such-volume', mountPath: '/v' }] }),
      "Volume 'no-such-volume' not found",
    )
    step('a duplicate snapshot name: 409; a duplicate volume name: 400')
    await sandbox.createSnapshot(`${name}-snap`)
    await fails(DaytonaConflictError, 409, () => sandbox.createSnapshot(`${name}-snap`), 'already exists')
    await daytona.volume.create(`${name}-vol`)
    await fails(DaytonaValidationError, 400, () => daytona.volume.create(`${name}-vol`), `Volume with name ${name}-vol already exists`)
    step('files: missing, or outside what a local sandbox shows')
    await fails(DaytonaFileNotFoundError, 404, () => sandbox.fs.listFiles(`${home}/nope`), `${home}/nope`)
    await fails(DaytonaFileNotFoundError, 404, () => sandbox.fs.getFileDetails(`${home}/nope`), `${home}/nope`)
    await fails(DaytonaValidationError, 400, () => sandbox.fs.uploadFile(Buffer.from('x'), '/etc/x'), '/etc/x', 'outside')
    step('git: not a repository, a missing branch')
    await fails(DaytonaGitRepoNotFoundError, 404, () => sandbox.git.status(home), 'not a git repository')
    const made = await sandbox.process.executeCommand(
      `git init -q -b main ${home}/repo && git -C ${home}/repo -c user.name=t -c user.email=t@t commit -q --allow-empty -m m`,
    )
    assert.equal(made.exitCode, 0, made.result)
    await fails(DaytonaGitBranchNotFoundError, 404, () => sandbox.git.checkoutBranch(`${home}/repo`, 'nope'), 'nope')
    step('sessions, commands and PTYs that do not exist: 404')
    await fails(DaytonaNotFoundError, 404, () => sandbox.process.getSession('nope'), 'nope')
    await sandbox.process.createSession('here')
    await fails(DaytonaConflictError, 409, () => sandbox.process.createSession('here'), 'already exists')
    await fails(DaytonaNotFoundError, 404, () => sandbox.process.getSessionCommand('here', 'nope'), 'nope')
    await fails(DaytonaNotFoundError, 404, () => sandbox.process.getPtySessionInfo('nope'), 'PTY session nope not found')
    await fails(
      DaytonaConnectionError,
      undefined,
      () => sandbox.process.connectPty('nope', { onData: () => {} }),
      'PTY session nope not found',
    )
    step('negative intervals: refused before asking')
    await assert.rejects(() => sandbox.setAutostopInterval(-1), /non-negative/)
  },

  async timeouts(daytona) {
    const sandbox = await daytona.create()
    step('a command past its timeout: 408')
    await fails(DaytonaTimeoutError, 408, () => sandbox.process.executeCommand('sleep 5', undefined, undefined, 1), 'command execution timeout')
    await fails(DaytonaTimeoutError, 408, () => sandbox.process.codeRun('import time; time.sleep(5)', undefined, 1), 'command execution timeout')
    step('a create that does not start in time')
    // The build outlasts the timeout (no `apt-get`, which fails offline at once), and the timeout the
    // create request itself, also on a loaded machine.
    await fails(DaytonaTimeoutError, undefined, () => daytona.create({ image: Image.base('debian:bookworm-slim').runCommands('sleep 20') }, { timeout: 3 }), 'timed out')
  },
}

const daytona = new Daytona()
await cases[process.env.SWEEP_CASE](daytona)
console.log('errors-ts: done')
