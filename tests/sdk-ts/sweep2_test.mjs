// Calls of the official TypeScript SDK that once failed against `ralph-town serve`, one case per
// run (SWEEP_CASE), run by `tests/serve_sdk_sweep2.rs`: each case asserts what the SDK returns
// or throws, and prints `sweep2-ts: done` at the end.

import assert from 'node:assert/strict'

import { Daytona } from '@daytonaio/sdk'

function step(name) {
  console.log(`sweep2-ts: ${name}`)
}

const cases = {
  // busboy, which the SDK parses downloads with, drops a part whose `filename*` holds a raw `/`.
  async 'unicode-download'(daytona) {
    const sandbox = await daytona.create()
    const home = await sandbox.getUserHomeDir()
    for (const path of [`${home}/ü.txt`, `${home}/dïr/ünï 🚀.txt`, `${home}/a"q.txt`, 'rel/ü.txt']) {
      step(`upload and download ${path}`)
      await sandbox.fs.uploadFile(Buffer.from(path), path)
      assert.equal((await sandbox.fs.downloadFile(path)).toString(), path)
    }
    step('several at once, one missing')
    const replies = await sandbox.fs.downloadFiles([
      { source: `${home}/ü.txt` },
      { source: `${home}/nïx.txt` },
    ])
    assert.equal(replies[0].result.toString(), `${home}/ü.txt`)
    assert.match(replies[1].error, /no such file/)
    await sandbox.delete()
  },
  async 'pty-listed'(daytona) {
    const sandbox = await daytona.create()
    step('created, then at once described and listed')
    const handle = await sandbox.process.createPty({ id: 'ts-pty', cols: 90, rows: 20, onData: () => {} })
    await handle.waitForConnection()
    const info = await sandbox.process.getPtySessionInfo('ts-pty')
    assert.equal(info.cols, 90)
    assert.ok((await sandbox.process.listPtySessions()).some((session) => session.id === 'ts-pty'))
    await sandbox.process.killPtySession('ts-pty')
    await handle.disconnect()
    await sandbox.delete()
  },
}

await cases[process.env.SWEEP_CASE](new Daytona())
console.log('sweep2-ts: done')
