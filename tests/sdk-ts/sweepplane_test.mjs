// Control-plane calls of the official TypeScript SDK, one case per run (SWEEP_CASE), run by
// `tests/serve_sdk_sweepplane.rs`: what a local sandbox cannot be (a GPU, KVM, another OS user)
// is refused with Daytona's error classes and nothing is left behind, and the lifecycle,
// snapshot and volume calls no other script makes answer as Daytona does. Each case prints
// `sweepplane-ts: done` at the end.

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import {
  Daytona,
  DaytonaBadRequestError,
  DaytonaConflictError,
  DaytonaNotFoundError,
  DaytonaUnprocessableEntityError,
} from '@daytonaio/sdk'

function step(name) {
  console.log(`sweepplane-ts: ${name}`)
}

async function ids(daytona) {
  const found = []
  for await (const sandbox of daytona.list()) found.push(sandbox.id)
  return found.sort()
}

// `promise` must reject with an `errorClass` whose message matches every pattern.
async function refused(promise, errorClass, ...patterns) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof errorClass, `${error.constructor.name}: ${error.message}`)
    for (const pattern of patterns) assert.match(error.message, pattern)
    return true
  })
}

const cases = {
  async impossible(daytona) {
    const run = randomUUID().slice(0, 8)
    const before = await ids(daytona)
    step('a GPU: first it must be ephemeral, then there is none')
    const gpu = { image: 'debian:12.4', resources: { gpu: 1 } }
    await refused(daytona.create(gpu), DaytonaBadRequestError, /GPU sandboxes must be ephemeral/)
    await refused(
      daytona.create({ ...gpu, ephemeral: true }),
      DaytonaBadRequestError,
      /Total GPU limit exceeded\. Maximum allowed: 0\./,
    )
    step('a GPU snapshot is recorded, a sandbox of it is refused')
    const snapshot = `sweepplane-ts-gpu-${run}`
    await daytona.snapshot.create({ name: snapshot, image: 'debian:12.4', resources: { gpu: 1 } })
    await refused(daytona.create({ snapshot, ephemeral: true }), DaytonaBadRequestError, /Total GPU limit exceeded/)
    step('KVM and a user other than `daytona`')
    await refused(daytona.create({ kvm: true }), DaytonaUnprocessableEntityError, /KVM/, /`kvm`/)
    await refused(daytona.create({ user: 'nobody2' }), DaytonaUnprocessableEntityError, /`nobody2`/, /`daytona`/)
    assert.deepEqual(await ids(daytona), before, 'a refused create left a sandbox')
    step('the user local sandboxes have, named outright')
    const sandbox = await daytona.create({ user: 'daytona' })
    assert.equal(sandbox.user, 'daytona')
    assert.equal((await sandbox.process.executeCommand('whoami')).result.trim(), 'daytona')
    await sandbox.delete()
  },

  async lifecycle(daytona) {
    const run = randomUUID().slice(0, 8)
    const sandbox = await daytona.create({ name: `sweepplane-ts-${run}`, envVars: { KEPT: 'yes' } })
    step('directories, refreshData, refreshActivity')
    assert.equal(await sandbox.getUserRootDir(), await sandbox.getUserHomeDir())
    assert.equal(await sandbox.getWorkDir(), '/home/daytona')
    await sandbox.refreshData()
    assert.equal(sandbox.state, 'started')
    await sandbox.refreshActivity()
    step('timers: autostop, TTL; auto-pause is not possible locally')
    await sandbox.setAutostopInterval(5)
    assert.equal(sandbox.autoStopInterval, 5)
    await sandbox.setTtl(30)
    await refused(sandbox.setAutoPauseInterval(5), DaytonaUnprocessableEntityError, /Pausing is not supported/)
    step('updateEnv reaches later commands')
    await sandbox.updateEnv({ ADDED: 'new' }, { unset: ['KEPT'] })
    const env = await sandbox.process.executeCommand('echo "${KEPT-unset}:$ADDED"')
    assert.equal(env.result.trim(), 'unset:new')
    step('waits, a forced stop, archive, recover')
    await sandbox.waitUntilStarted()
    await sandbox.waitForResizeComplete()
    await sandbox.stop(60, true)
    assert.equal(sandbox.state, 'stopped')
    await sandbox.waitUntilStopped()
    await refused(sandbox.recover(), DaytonaBadRequestError, /not in a recoverable state/)
    await sandbox.archive()
    assert.equal(sandbox.state, 'archived')
    await daytona.start(sandbox)
    assert.equal(sandbox.state, 'started')
    await refused(sandbox.pause(), DaytonaUnprocessableEntityError, /Pausing is not supported/)
    step('metrics now, and a resize')
    const latest = await sandbox.getMetricsLatest()
    assert.equal(latest.cpuCount, 1)
    const history = await sandbox.getMetrics()
    assert.ok(history.length >= 1, `a sample since the sandbox was made: ${JSON.stringify(history)}`)
    assert.equal(history.at(-1).cpuCount, 1)
    assert.ok(history.at(-1).timestamp >= new Date(sandbox.createdAt))
    assert.deepEqual(await sandbox.getMetrics(new Date(Date.now() + 3600e3), new Date(Date.now() + 7200e3)), [])
    await sandbox.resize({ cpu: 2, memory: 2 })
    assert.deepEqual([sandbox.cpu, sandbox.memory, sandbox.state], [2, 2, 'started'])
    await refused(sandbox.resize({ disk: 5 }), DaytonaBadRequestError, /stopped sandbox/)
    step('daytona.fork, and its name taken once')
    const fork = await daytona.fork(sandbox, { name: `sweepplane-ts-fork-${run}` })
    assert.equal(fork.name, `sweepplane-ts-fork-${run}`)
    await refused(sandbox.fork({ name: fork.name }), DaytonaConflictError, /already exists/)
    await daytona.delete(fork, 60, true)
    assert.equal(fork.state, 'destroyed')
    step('daytona.stop, then delete and wait; a deleted sandbox is not found')
    await daytona.stop(sandbox)
    assert.equal(sandbox.state, 'stopped')
    await sandbox.delete(60, true)
    await refused(daytona.get(sandbox.id), DaytonaNotFoundError, /not found/)
    await refused(daytona.delete(sandbox), DaytonaNotFoundError, /not found/)
  },

  async services(daytona) {
    const run = randomUUID().slice(0, 8)
    step('volumes: create, get, list, delete, a missing one')
    const volume = await daytona.volume.create(`sweepplane-ts-${run}`)
    assert.equal((await daytona.volume.get(volume.name)).id, volume.id)
    assert.ok((await daytona.volume.list()).some((listed) => listed.id === volume.id))
    await daytona.volume.delete(await daytona.volume.get(volume.name))
    await refused(daytona.volume.get(`sweepplane-ts-none-${run}`), DaytonaNotFoundError, /not found/)
    step('snapshots: pages, activate, delete, a missing one')
    const name = `sweepplane-ts-snap-${run}`
    await daytona.snapshot.create({ name, image: 'debian:12.4' })
    const first = await daytona.snapshot.list({ page: 1, limit: 2 })
    const all = await daytona.snapshot.list(1, 100)
    assert.equal(first.items.length, 2)
    assert.equal(first.totalPages, Math.ceil(all.total / 2))
    assert.ok(all.items.some((snapshot) => snapshot.name === name))
    await refused(daytona.snapshot.activate(name), DaytonaBadRequestError, /already active/)
    await daytona.snapshot.delete(name)
    await refused(daytona.snapshot.get(name), DaytonaNotFoundError, /not found/)
    await refused(daytona.snapshot.delete(name), DaytonaNotFoundError, /not found/)
  },
}

await cases[process.env.SWEEP_CASE](new Daytona())
console.log('sweepplane-ts: done')
