// Whole journeys of a sandbox's life with the official TypeScript SDK, as Daytona's guides walk
// them, against `ralph-town serve`: one journey or regression case per run (SWEEP_CASE), run by
// `tests/serve_sdk_journeys.rs`. Each step asserts what the SDK returns or throws; the script
// prints `journeys-ts: done` at the end.

import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { Daytona, Image } from '@daytonaio/sdk'

function step(name) {
  console.log(`journeys-ts: ${name}`)
}

async function shell(sandbox, command) {
  const reply = await sandbox.process.executeCommand(command)
  assert.equal(reply.exitCode, 0, `${command}: ${reply.result}`)
  return reply.result
}

// A build context on this machine: one file and a folder with a nested file.
function buildContext(run) {
  const folder = mkdtempSync(join(tmpdir(), 'journeys-'))
  writeFileSync(join(folder, 'one.txt'), `one-${run}\n`)
  mkdirSync(join(folder, 'dir', 'sub'), { recursive: true })
  writeFileSync(join(folder, 'dir', 'sub', 'two.txt'), `two-${run}\n`)
  return folder
}

// An image a guide would write: a base, an environment, a working directory, local files
// copied in and a step that uses them.
function appImage(run, context) {
  return Image.base('node:22-bookworm-slim')
    .env({ APP_MODE: `mode-${run}` })
    .workdir('/home/daytona/app')
    .addLocalFile(join(context, 'one.txt'), '/home/daytona/app/one.txt')
    .addLocalDir(join(context, 'dir'), `/opt/ctx-${run}`)
    .runCommands(`cat /home/daytona/app/one.txt /opt/ctx-${run}/sub/two.txt > /home/daytona/app/both.txt`)
}

const cases = {
  async 'image-snapshot'(daytona) {
    const run = Math.random().toString(16).slice(2, 10)
    const context = buildContext(run)
    step('a sandbox from an image with local files, then a snapshot of it')
    const source = await daytona.create({ image: appImage(run, context) }, { timeout: 180 })
    await source.fs.uploadFile(Buffer.from(`notes-${run}\n`), 'notes.txt')
    await source.createSnapshot(`journey-ts-${run}`)
    step('a sandbox from that snapshot has the image')
    const copy = await daytona.create({ snapshot: `journey-ts-${run}` })
    assert.equal(await copy.getWorkDir(), '/home/daytona/app')
    const seen = await shell(copy, `pwd; echo $APP_MODE; cat notes.txt both.txt /opt/ctx-${run}/sub/two.txt`)
    assert.deepEqual(seen.split(/\s+/).filter(Boolean), [
      '/home/daytona/app',
      `mode-${run}`,
      `notes-${run}`,
      `one-${run}`,
      `two-${run}`,
      `two-${run}`,
    ])
    for (const sandbox of [copy, source]) await sandbox.delete()
    await daytona.snapshot.delete(await daytona.snapshot.get(`journey-ts-${run}`))
    rmSync(context, { recursive: true })
  },
}

await cases[process.env.SWEEP_CASE](new Daytona())
console.log('journeys-ts: done')
