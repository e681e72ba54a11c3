// The official TypeScript SDK's public methods that no other script calls, against
// `ralph-town serve`, one case per run (`SWEEP_CASE`), run by `tests/serve_sdk_surface.rs`:
// `workspaceSymbols` (the deprecated name of `sandboxSymbols`), `setNodeValue` on a real GTK
// entry, warm pools, a terminal handle's `exitCode` and `error`, and the image steps that need the
// internet (`Image.debianSlim`, the `pipInstall` steps), whose builds fail with the build's
// reason. Each case asserts what the SDK returns or throws; the last line is `surface: done`.

import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

import {
  Daytona,
  DaytonaError,
  DaytonaNotFoundError,
  DaytonaUnprocessableEntityError,
  Image,
} from '@daytonaio/sdk'

import { eventually, flatten } from './sdk_script.mjs'

function step(name) {
  console.log(`surface: ${name}`)
}


const daytona = new Daytona()
const run = Math.random().toString(16).slice(2, 10)

async function lsp() {
  step('workspaceSymbols: the deprecated name of sandboxSymbols')
  const sandbox = await daytona.create({ envVars: { PATH: process.env.LSP_SANDBOX_PATH } }, { timeout: 60 })
  const project = `${await sandbox.getUserHomeDir()}/shapes`
  const file = `${project}/shapes.ts`
  await sandbox.fs.createFolder(project, '755')
  await sandbox.fs.uploadFile(Buffer.from('export function describeShape(sides: number): string {\n  return "sides " + sides\n}\n'), file)
  const server = await sandbox.createLspServer('typescript', project)
  await server.start()
  await server.didOpen(file)
  const found = await server.workspaceSymbols('describeShape')
  assert.ok(
    found.some((symbol) => symbol.name === 'describeShape' && symbol.location.uri === `file://${file}`),
    JSON.stringify(found),
  )
  await server.stop()
  await daytona.delete(sandbox)
}

async function a11y() {
  step('setNodeValue on a GTK entry')
  const sandbox = await daytona.create({}, { timeout: 60 })
  const computer = sandbox.computerUse
  await computer.start()
  await sandbox.fs.uploadFile(readFileSync(new URL('../sdk/a11y_window.py', import.meta.url)), 'probe.py')
  await sandbox.process.createSession('desktop')
  await sandbox.process.executeSessionCommand('desktop', { command: 'python3 probe.py', runAsync: true })
  const entry = await eventually('the entry in the tree', async () => {
    const tree = await computer.accessibility.getTree({ scope: 'all' })
    return [...flatten(tree.root)].find((node) => node.role === 'text' && node.name === 'Your name')
  })
  await computer.accessibility.setNodeValue(entry.id, 'typed from ts')
  await eventually('the text in ~/entry.txt', async () => {
    const reply = await sandbox.process.executeCommand('cat ~/entry.txt 2>/dev/null || true')
    return reply.result.trim() === 'typed from ts'
  })
  await assert.rejects(
    computer.accessibility.setNodeValue(':1.9999:/org/a11y/atspi/accessible/1', 'x'),
    DaytonaNotFoundError,
  )
  await computer.stop()
  await daytona.delete(sandbox)
}

async function plane() {
  step('warm pools: none, and none can be made, updated or deleted')
  assert.deepEqual(await daytona.warmPool.list(), [])
  await assert.rejects(daytona.warmPool.create({ snapshot: 'daytona-small', pool: 2 }), (error) => {
    assert.ok(error instanceof DaytonaUnprocessableEntityError, `${error.constructor.name}: ${error.message}`)
    assert.match(error.message, /Warm pools/)
    return true
  })
  await assert.rejects(daytona.warmPool.update('no-such-pool', { pool: 3 }), DaytonaNotFoundError)
  await assert.rejects(daytona.warmPool.delete('no-such-pool'), DaytonaNotFoundError)

  step("a terminal handle's exitCode and error")
  const sandbox = await daytona.create({}, { timeout: 60 })
  const handle = await sandbox.process.createPty({ id: `term-${run}`, onData: () => {} })
  assert.equal(handle.sessionId, `term-${run}`)
  assert.equal(handle.exitCode, undefined)
  assert.equal(handle.error, undefined)
  await handle.waitForConnection()
  await handle.sendInput('exit 6\n')
  const result = await handle.wait()
  assert.equal(result.exitCode, 6)
  assert.equal(handle.exitCode, 6)
  assert.equal(handle.error, 'non-zero exit')
  await handle.disconnect()
  await daytona.delete(sandbox)

  step('images that need the internet: the build fails at the step that would fetch')
  const folder = mkdtempSync(path.join(tmpdir(), 'surface-'))
  const requirements = path.join(folder, 'requirements.txt')
  writeFileSync(requirements, 'six==1.16.0\n')
  const pyproject = path.join(folder, 'pyproject.toml')
  writeFileSync(
    pyproject,
    '[project]\nname = "app"\nversion = "0.1.0"\ndependencies = ["six>=1.16"]\n[project.optional-dependencies]\ndev = ["pytest"]\n',
  )
  const images = {
    pipInstall: Image.base('python:3.12-slim').pipInstall(['six', 'idna'], { findLinks: ['/wheels'], pre: true }),
    pipInstallFromRequirements: Image.base('python:3.12-slim').pipInstallFromRequirements(requirements),
    pipInstallFromPyproject: Image.base('python:3.12-slim').pipInstallFromPyproject(pyproject, {
      optionalDependencies: ['dev'],
    }),
  }
  assert.match(images.pipInstall.dockerfile, /RUN python -m pip install idna six --find-links \/wheels --pre/)
  // The TypeScript SDK shell-escapes each requirement.
  assert.match(images.pipInstallFromPyproject.dockerfile, /RUN python -m pip install pytest six\\>\\=1\.16/)
  for (const [name, image] of Object.entries(images)) {
    step(`${name}: fails at its first step that needs the image, saying why`)
    const logs = []
    await assert.rejects(daytona.create({ image }, { timeout: 0, onSnapshotCreateLogs: (line) => logs.push(line) }), (error) => {
      assert.ok(error instanceof DaytonaError, `${error.constructor.name}: ${error.message}`)
      // The requirements file is copied to `/.requirements.txt`, outside what a layer keeps.
      const cause = name === 'pipInstallFromRequirements' ? /Read-only file system/ : /python: not found/
      assert.match(error.message, cause)
      assert.match(error.message, /is not pulled here/)
      return true
    })
    const failed = name === 'pipInstallFromRequirements' ? 'COPY' : 'pip install'
    assert.ok(logs.join('\n').includes(failed), logs.join('\n'))
  }
  step('Image.debianSlim: its apt-get step fails offline')
  const slim = Image.debianSlim('3.12')
  assert.match(slim.dockerfile, /^FROM python:3\.12\.\d+-slim-bookworm/)
  // Following the build log, as the SDKs' examples do: the SDK then reads the failure's reason
  // (from events alone it takes the state without its `errorReason`, on Daytona too).
  const slimLogs = []
  const following = { timeout: 0, onSnapshotCreateLogs: (line) => slimLogs.push(line) }
  await assert.rejects(daytona.create({ image: slim }, following), (error) => {
    assert.ok(error instanceof DaytonaError, `${error.constructor.name}: ${error.message}`)
    assert.match(error.message, /Dockerfile line \d+ exited with code/)
    return true
  })
  assert.ok(slimLogs.join('\n').includes('apt-get update'), slimLogs.join('\n'))
}

const cases = { lsp, a11y, plane }
await cases[process.env.SWEEP_CASE]()
console.log('surface: done')
