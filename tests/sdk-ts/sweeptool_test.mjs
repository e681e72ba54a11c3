// Calls of the official TypeScript SDK on a sandbox's toolbox that once failed against
// `ralph-town serve`, one case per run (SWEEP_CASE), run by `tests/serve_sdk_sweeptool.rs`: each
// case asserts what the SDK returns or throws, and prints `sweeptool-ts: done` at the end.

import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'

import { Daytona, DaytonaFileNotFoundError, DaytonaNotFoundError, DaytonaTimeoutError } from '@daytonaio/sdk'

function step(name) {
  console.log(`sweeptool-ts: ${name}`)
}

const PNG = 'iVBORw0KGgo'

async function until(what, check) {
  for (let tries = 0; tries < 300; tries++) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  assert.fail(`never: ${what}`)
}

const cases = {
  async interpreter(daytona) {
    const sandbox = await daytona.create()
    const interpreter = sandbox.codeInterpreter
    step('runCode streams to its callbacks and keeps state')
    const seen = []
    const ran = await interpreter.runCode('import sys\nkept = 6\nprint("out")\nprint("err", file=sys.stderr)', {
      onStdout: (message) => seen.push(`out:${message.output}`),
      onStderr: (message) => seen.push(`err:${message.output}`),
    })
    assert.deepEqual([ran.stdout, ran.stderr, ran.error], ['out\n', 'err\n', undefined])
    assert.deepEqual(seen, ['out:out\n', 'err:err\n'])
    step('an exception reaches onError and the result')
    const errors = []
    const failed = await interpreter.runCode('kept / 0', { onError: (error) => errors.push(error.name) })
    assert.equal(failed.error.name, 'ZeroDivisionError')
    assert.deepEqual(errors, ['ZeroDivisionError'])
    step('envs for one run, os.environ for the context')
    const once = await interpreter.runCode('import os\nos.environ["SET"] = "by code"\nprint(os.environ["ONCE"])', {
      envs: { ONCE: 'yes' },
    })
    assert.equal(once.stdout, 'yes\n')
    const after = await interpreter.runCode('import os\nprint(os.environ.get("ONCE"), os.environ["SET"], kept)')
    assert.equal(after.stdout, 'None by code 6\n')
    step('a timeout is a DaytonaTimeoutError and the context lives on')
    await assert.rejects(interpreter.runCode('import time\ntime.sleep(30)', { timeout: 1 }), DaytonaTimeoutError)
    assert.equal((await interpreter.runCode('print(kept + 1)')).stdout, '7\n')
    step('contexts: created with a cwd, listed, used, deleted')
    const context = await interpreter.createContext('/tmp')
    assert.equal(context.cwd, '/tmp')
    assert.ok((await interpreter.listContexts()).some((listed) => listed.id === context.id))
    const where = await interpreter.runCode('import os\nprint(os.getcwd())\nprint("kept" in globals())', { context })
    assert.equal(where.stdout, '/tmp\nFalse\n')
    await interpreter.deleteContext(context)
    assert.ok(!(await interpreter.listContexts()).some((listed) => listed.id === context.id))
    await assert.rejects(interpreter.deleteContext(context), DaytonaNotFoundError)
    await sandbox.delete()
  },
  async 'files-and-sessions'(daytona) {
    const sandbox = await daytona.create()
    const files = sandbox.fs
    const local = fs.mkdtempSync(path.join(os.tmpdir(), 'sweeptool-'))
    step('setFilePermissions: mode, owner and group; a missing file is FILE_NOT_FOUND')
    await files.uploadFile(Buffer.from('x'), 'perm.txt')
    await files.setFilePermissions('perm.txt', { mode: '640', owner: 'daytona', group: 'daytona' })
    const info = await files.getFileDetails('perm.txt')
    assert.deepEqual([info.permissions, info.owner, info.group], ['0640', 'daytona', 'daytona'])
    await assert.rejects(files.setFilePermissions('nope.txt', { mode: '600' }), DaytonaFileNotFoundError)
    step('uploadFileStream from a Readable, downloadFileStream back in chunks')
    const progress = []
    await files.uploadFileStream(Readable.from([Buffer.from('ab'), Buffer.from('cd')]), 'streamed.txt', {
      onProgress: (sent) => progress.push(sent),
    })
    assert.ok(progress.length > 0)
    const chunks = []
    for await (const chunk of await files.downloadFileStream('streamed.txt')) chunks.push(chunk)
    assert.equal(Buffer.concat(chunks).toString(), 'abcd')
    await assert.rejects(
      (async () => {
        for await (const chunk of await files.downloadFileStream('nope.txt')) chunks.push(chunk)
      })(),
      DaytonaFileNotFoundError,
    )
    step('downloadFiles to a local file and to memory')
    const target = path.join(local, 'got.txt')
    const replies = await files.downloadFiles([{ source: 'streamed.txt', destination: target }, { source: 'perm.txt' }])
    assert.equal(replies[0].result, target)
    assert.equal(fs.readFileSync(target, 'utf8'), 'abcd')
    assert.equal(replies[1].result.toString(), 'x')
    step('listSessions and sendSessionCommandInput')
    const process = sandbox.process
    await process.createSession('asking')
    assert.ok((await process.listSessions()).some((session) => session.sessionId === 'asking'))
    const asked = await process.executeSessionCommand('asking', {
      command: 'read name; echo hello $name',
      runAsync: true,
      suppressInputEcho: true,
    })
    await process.sendSessionCommandInput('asking', asked.cmdId, 'ann\n')
    await until('the command ends', async () => (await process.getSessionCommand('asking', asked.cmdId)).exitCode === 0)
    assert.equal((await process.getSessionCommandLogs('asking', asked.cmdId)).stdout, 'hello ann\n')
    await process.deleteSession('asking')
    assert.ok(!(await process.listSessions()).some((session) => session.sessionId === 'asking'))
    step('there is no entrypoint: its session and logs are 404')
    await assert.rejects(process.getEntrypointSession(), DaytonaNotFoundError)
    await assert.rejects(process.getEntrypointLogs(), DaytonaNotFoundError)
    await sandbox.delete()
  },
  async 'git-branches'(daytona) {
    const sandbox = await daytona.create()
    const git = sandbox.git
    step('a repository pushed to a bare one')
    await git.init('remote.git', true)
    await git.init('work', false, 'main')
    await sandbox.fs.uploadFile(Buffer.from('one'), 'work/a.txt')
    await git.add('work', ['a.txt'])
    const first = await git.commit('work', 'one', 'Ann', 'ann@example.com')
    await git.remoteAdd('work', 'origin', '/home/daytona/remote.git')
    await git.push('work')
    step('createBranch switches to it, checkoutBranch back, deleteBranch')
    await git.createBranch('work', 'feature')
    assert.deepEqual(await git.branches('work'), { branches: ['feature', 'main'], current: 'feature' })
    await git.checkoutBranch('work', 'main')
    await git.deleteBranch('work', 'feature')
    assert.deepEqual(await git.branches('work'), { branches: ['main'], current: 'main' })
    step('clone at a commit is detached; clone of a branch follows it')
    await git.clone('/home/daytona/remote.git', 'pinned', undefined, first.sha)
    const pinned = await git.status('pinned')
    assert.deepEqual([pinned.detached, pinned.currentBranch], [true, 'HEAD'])
    await git.clone('/home/daytona/remote.git', 'copy', 'main')
    step('pull brings a later push')
    await sandbox.fs.uploadFile(Buffer.from('two'), 'work/b.txt')
    await git.add('work', ['b.txt'])
    await git.commit('work', 'two', 'Ann', 'ann@example.com')
    await git.push('work')
    assert.equal((await git.status('copy')).upstream, 'origin/main')
    await git.pull('copy')
    assert.equal((await sandbox.fs.downloadFile('copy/b.txt')).toString(), 'two')
    await sandbox.delete()
  },
  async 'computer-use'(daytona) {
    const sandbox = await daytona.create()
    const computer = sandbox.computerUse
    step('start, status, the display process')
    await computer.start()
    assert.equal((await computer.getStatus()).status, 'active')
    assert.equal((await computer.getProcessStatus('xvfb')).running, true)
    assert.equal((await computer.restartProcess('xvfb')).processName, 'xvfb')
    await until('the display runs again', async () => (await computer.getProcessStatus('xvfb')).running)
    assert.equal(typeof (await computer.getProcessLogs('xvfb')).logs, 'string')
    assert.equal(typeof (await computer.getProcessErrors('xvfb')).errors, 'string')
    step('mouse')
    assert.deepEqual(await computer.mouse.move(100, 120), { x: 100, y: 120 })
    assert.deepEqual(await computer.mouse.getPosition(), { x: 100, y: 120 })
    assert.deepEqual(await computer.mouse.click(50, 60, 'right', true), { x: 50, y: 60 })
    assert.deepEqual(await computer.mouse.drag(10, 20, 30, 40), { x: 30, y: 40 })
    assert.equal(await computer.mouse.scroll(30, 40, 'down', 2), true)
    step('keyboard')
    await computer.keyboard.type('hello', 5)
    await computer.keyboard.press('a', ['ctrl', 'shift'])
    await computer.keyboard.hotkey('ctrl+c')
    step('display and screenshots')
    const display = (await computer.display.getInfo()).displays[0]
    assert.ok(display.width > 0 && display.height > 0, JSON.stringify(display))
    assert.ok(Array.isArray((await computer.display.getWindows()).windows))
    const full = await computer.screenshot.takeFullScreen(true)
    const png = Buffer.from(full.screenshot, 'base64')
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [display.width, display.height])
    // The SDK passes takeRegion's numbers in reverse (height, width, y, x): as on Daytona,
    // the daemon reads them as x, y, width, height.
    const region = await computer.screenshot.takeRegion({ x: 30, y: 20, width: 10, height: 15 })
    const part = Buffer.from(region.screenshot, 'base64')
    assert.deepEqual([part.readUInt32BE(16), part.readUInt32BE(20)], [20, 30])
    step('a recording, downloaded')
    const recording = await computer.recording.start('ts')
    await new Promise((resolve) => setTimeout(resolve, 1000))
    assert.equal((await computer.recording.stop(recording.id)).status, 'completed')
    assert.ok((await computer.recording.list()).recordings.some((listed) => listed.id === recording.id))
    const local = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sweeptool-')), 'recording.mp4')
    await computer.recording.download(recording.id, local)
    assert.ok(fs.statSync(local).size > 0)
    await computer.recording.delete(recording.id)
    await assert.rejects(computer.recording.get(recording.id), DaytonaNotFoundError)
    step('stop')
    await computer.stop()
    assert.equal((await computer.getStatus()).status, 'inactive')
    await sandbox.delete()
  },
  // The SDK's own example asks for `webp`, which the daemon answers with a full-size PNG.
  async 'webp-screenshot'(daytona) {
    const sandbox = await daytona.create()
    const screenshot = sandbox.computerUse.screenshot
    await sandbox.computerUse.start()
    step('the example of takeCompressedRegion')
    const region = { x: 0, y: 0, width: 800, height: 600 }
    const shot = await screenshot.takeCompressedRegion(region, { format: 'webp', quality: 80, showCursor: true })
    assert.ok(shot.screenshot.startsWith(PNG), shot.screenshot.slice(0, 16))
    assert.equal(shot.sizeBytes, Buffer.from(shot.screenshot, 'base64').length)
    const size = Buffer.from(shot.screenshot, 'base64')
    assert.deepEqual([size.readUInt32BE(16), size.readUInt32BE(20)], [800, 600])
    step('takeCompressed in webp, scaled: a PNG of the whole display')
    const whole = await screenshot.takeCompressed({ format: 'webp', scale: 0.5 })
    const png = Buffer.from(whole.screenshot, 'base64')
    const display = (await sandbox.computerUse.display.getInfo()).displays[0]
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [display.width, display.height])
    step('jpeg still scales')
    const small = await screenshot.takeCompressed({ format: 'jpeg', quality: 50, scale: 0.5 })
    assert.ok(small.screenshot.startsWith('/9j/'), small.screenshot.slice(0, 8))
    await sandbox.computerUse.stop()
    await sandbox.delete()
  },
}

await cases[process.env.SWEEP_CASE](new Daytona())
console.log('sweeptool-ts: done')
