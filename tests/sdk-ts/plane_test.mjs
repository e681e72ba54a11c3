// Control-plane calls of the official TypeScript SDK that once did not answer as Daytona does,
// one case per run (SWEEP_CASE), run by `tests/serve_sdk_plane.rs`: each case asserts what the
// SDK returns or throws, and prints `plane-ts: done` at the end.

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import { Daytona, DaytonaNotFoundError } from '@daytonaio/sdk'

function step(name) {
  console.log(`plane-ts: ${name}`)
}

const cases = {
  async region(daytona) {
    const run = randomUUID().slice(0, 8)
    step('a client whose target is `us` creates nothing')
    const us = new Daytona({ target: 'us' })
    await assert.rejects(us.create(), (error) => {
      assert.ok(error instanceof DaytonaNotFoundError, String(error))
      assert.match(error.message, /Region not found: `us`/)
      return true
    })
    step('a snapshot in region `eu` is not made')
    const eu = `plane-eu-${run}`
    await assert.rejects(daytona.snapshot.create({ name: eu, image: 'debian:12.4', regionId: 'eu' }), (error) => {
      assert.ok(error instanceof DaytonaNotFoundError, String(error))
      assert.match(error.message, /Region not found: `eu`/)
      return true
    })
    await assert.rejects(daytona.snapshot.get(eu), DaytonaNotFoundError)
    step('the local region, named or not')
    const local = await daytona.snapshot.create({ name: `plane-local-${run}`, image: 'debian:12.4', regionId: 'local' })
    assert.deepEqual(local.regionIds, ['local'])
    const sandbox = await daytona.create({ target: 'local' })
    assert.equal(sandbox.target, 'local')
    await sandbox.delete()
    assert.equal((await daytona.create()).target, 'local')
  },
}

await cases[process.env.SWEEP_CASE](new Daytona())
console.log('plane-ts: done')
