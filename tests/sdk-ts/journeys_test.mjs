// Whole journeys of a sandbox's life with the official TypeScript SDK, as Daytona's guides walk
// them, against `ralph-town serve`: one journey or regression case per run (SWEEP_CASE), run by
// `tests/serve_sdk_journeys.rs`. Each step asserts what the SDK returns or throws; the script
// prints `journeys-ts: done` at the end.

import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import * as sdk from '@daytonaio/sdk'

import { shell } from './sdk_script.mjs'

const { Daytona, Image } = sdk

function step(name) {
  console.log(`journeys-ts: ${name}`)
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

// The error `promise` rejects with, which must be the SDK's `className` with every word.
async function rejects(className, promise, ...words) {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof sdk[className], `${className} expected, got ${error.constructor.name}: ${error.message}`)
    for (const word of words) assert.ok(error.message.includes(word), `${word} not in ${error.message}`)
    return error
  }
  assert.fail(`expected ${className}`)
}

// The status and body of GET `url`, waiting while the server inside starts (502).
async function fetchText(url, headers = {}) {
  for (let attempt = 0; ; attempt++) {
    const reply = await fetch(url, { headers })
    if (reply.status !== 502 || attempt > 300) return [reply.status, await reply.text()]
    await new Promise((ok) => setTimeout(ok, 100))
  }
}

async function names(daytona, labels) {
  const found = []
  for await (const sandbox of daytona.list({ labels })) found.push(sandbox.name)
  return found.sort()
}

const cases = {
  async 'image-life'(daytona) {
    const run = Math.random().toString(16).slice(2, 10)
    const context = buildContext(run)
    step('create from an image with local files, following its build')
    const logs = []
    const sandbox = await daytona.create(
      { image: appImage(run, context), labels: { journey: run }, autoStopInterval: 20, autoDeleteInterval: 90 },
      { timeout: 180, onSnapshotCreateLogs: (line) => logs.push(line) },
    )
    assert.ok(logs.some((line) => line.includes(`COPY`)), logs.join('\n'))
    assert.deepEqual([sandbox.autoStopInterval, sandbox.autoDeleteInterval], [20, 90])
    assert.equal(await sandbox.getWorkDir(), '/home/daytona/app')

    step('files relative to the working directory')
    await sandbox.fs.uploadFile(Buffer.from(`notes-${run}\n`), 'notes/today.txt')
    assert.equal((await sandbox.fs.downloadFile('/home/daytona/app/notes/today.txt')).toString(), `notes-${run}\n`)
    assert.deepEqual((await sandbox.fs.listFiles('.')).map((file) => file.name).sort(), ['both.txt', 'notes', 'one.txt'])
    assert.equal(await shell(sandbox, 'cat both.txt'), `one-${run}\ntwo-${run}\n`)

    step('git with a local bare remote: clone, branch, commit, push, pull')
    const commitSeed = 'git -c user.name=a -c user.email=a@example.com commit -q --allow-empty'
    await shell(
      sandbox,
      `git init -q --bare -b main /home/daytona/remote.git && git init -q -b main /tmp/seed && cd /tmp/seed && ${commitSeed} -m init && git push -q /home/daytona/remote.git main`,
    )
    const git = sandbox.git
    await git.clone('/home/daytona/remote.git', 'repo')
    await git.createBranch('repo', 'feature')
    await sandbox.fs.uploadFile(Buffer.from('feature\n'), 'repo/feature.txt')
    await git.add('repo', ['feature.txt'])
    assert.deepEqual((await git.status('repo')).fileStatus.map((file) => file.name), ['feature.txt'])
    const commit = await git.commit('repo', 'add feature', 'Jo', 'jo@example.com')
    await git.push('repo')
    assert.equal((await shell(sandbox, 'git -C /home/daytona/remote.git rev-parse feature')).trim(), commit.sha)
    await git.checkoutBranch('repo', 'main')
    await shell(sandbox, `cd /tmp/seed && ${commitSeed} -m more && git push -q /home/daytona/remote.git main`)
    await git.pull('repo')
    const status = await git.status('repo')
    assert.deepEqual([status.currentBranch, status.ahead, status.behind], ['main', 0, 0])

    step('a background web server, through its preview link and a signed URL')
    const port = Number((await shell(sandbox, `python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"`)).trim())
    await shell(sandbox, `nohup python3 -m http.server ${port} --bind 127.0.0.1 > web.log 2>&1 &`)
    const link = await sandbox.getPreviewLink(port)
    assert.deepEqual(await fetchText(`${link.url}/both.txt`, { 'x-daytona-preview-token': link.token }), [200, `one-${run}\ntwo-${run}\n`])
    assert.equal((await fetchText(`${link.url}/both.txt`))[0], 401)
    const signed = await sandbox.getSignedPreviewUrl(port, 120)
    assert.deepEqual(await fetchText(`${signed.url}/both.txt`), [200, `one-${run}\ntwo-${run}\n`])

    step('a long command in a session, its logs streamed')
    await sandbox.process.createSession('long')
    const command = await sandbox.process.executeSessionCommand('long', {
      command: 'for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.2; done; pwd; echo $APP_MODE',
      runAsync: true,
    })
    const out = []
    const err = []
    await sandbox.process.getSessionCommandLogs('long', command.cmdId, (chunk) => out.push(chunk), (chunk) => err.push(chunk))
    assert.equal(out.join(''), `out1\nout2\nout3\n/home/daytona/app\nmode-${run}\n`)
    assert.equal(err.join(''), 'err1\nerr2\nerr3\n')
    assert.equal((await sandbox.process.getSessionCommand('long', command.cmdId)).exitCode, 0)

    step('an interpreter context keeps its state')
    const interpreter = await sandbox.codeInterpreter.createContext()
    const first = await sandbox.codeInterpreter.runCode('import os; kept = 21; print(os.getcwd())', { context: interpreter })
    assert.equal(first.stdout, '/home/daytona/app\n')
    assert.equal((await sandbox.codeInterpreter.runCode('print(kept * 2)', { context: interpreter })).stdout, '42\n')

    step('stop and start, archive and start: the files stay')
    await sandbox.stop()
    assert.equal(sandbox.state, 'stopped')
    await sandbox.start()
    await sandbox.stop()
    await sandbox.archive()
    await sandbox.refreshData()
    assert.equal(sandbox.state, 'archived')
    await sandbox.start()
    assert.equal(sandbox.state, 'started')
    const check = `pwd; echo $APP_MODE; cat notes/today.txt /opt/ctx-${run}/sub/two.txt`
    const kept = `/home/daytona/app\nmode-${run}\nnotes-${run}\ntwo-${run}\n`
    assert.equal(await shell(sandbox, check), kept)

    step('a fork and a snapshot keep the files and the image')
    const fork = await sandbox.fork({ name: `fork-${run}` })
    assert.equal(await shell(fork, check), kept)
    await sandbox.createSnapshot(`life-ts-${run}`)
    const copy = await daytona.create({ snapshot: `life-ts-${run}` })
    assert.equal(await shell(copy, check), kept)

    step('listed by label, then deleted')
    assert.deepEqual(await names(daytona, { journey: run }), [sandbox.name, `fork-${run}`].sort())
    for (const made of [copy, fork, sandbox]) await made.delete()
    await daytona.snapshot.delete(await daytona.snapshot.get(`life-ts-${run}`))
    assert.deepEqual(await names(daytona, { journey: run }), [])
    rmSync(context, { recursive: true })
  },
  async 'shared-volume'(daytona) {
    const run = Math.random().toString(16).slice(2, 10)
    step('a volume, ready')
    let volume = await daytona.volume.get(`shared-ts-${run}`, true)
    for (let attempt = 0; volume.state !== 'ready' && attempt < 300; attempt++) {
      await new Promise((ok) => setTimeout(ok, 200))
      volume = await daytona.volume.get(`shared-ts-${run}`)
    }
    assert.equal(volume.state, 'ready')
    step('two sandboxes mount it, with labels and timers')
    const writer = await daytona.create({
      name: `writer-${run}`,
      labels: { team: run, role: 'writer' },
      volumes: [{ volumeId: volume.id, mountPath: '/home/daytona/shared' }],
      autoStopInterval: 15,
      autoArchiveInterval: 60,
      autoDeleteInterval: -1,
    })
    const reader = await daytona.create({
      name: `reader-${run}`,
      labels: { team: run, role: 'reader' },
      volumes: [{ volumeId: volume.id, mountPath: '/home/daytona/data' }],
      ephemeral: true,
    })
    assert.deepEqual([writer.autoStopInterval, writer.autoArchiveInterval, writer.autoDeleteInterval], [15, 60, -1])
    assert.equal(reader.autoDeleteInterval, 0)
    step('written in one, read in the other')
    await writer.fs.uploadFile(Buffer.from(`hello-${run}`), 'shared/hello.txt')
    assert.equal((await reader.fs.downloadFile('data/hello.txt')).toString(), `hello-${run}`)
    step('labels changed, listed; timers changed, read back')
    await writer.setLabels({ team: run, role: 'writer', stage: '2' })
    assert.equal((await daytona.get(writer.name)).labels.stage, '2')
    assert.deepEqual(await names(daytona, { team: run, role: 'writer' }), [`writer-${run}`])
    assert.deepEqual(await names(daytona, { team: run }), [`reader-${run}`, `writer-${run}`])
    await writer.setAutostopInterval(0)
    await writer.setAutoArchiveInterval(5)
    await writer.setAutoDeleteInterval(30)
    const again = await daytona.get(writer.id)
    assert.deepEqual([again.autoStopInterval, again.autoArchiveInterval, again.autoDeleteInterval], [0, 5, 30])
    step('a volume in use is not deleted; once free, it is')
    await rejects('DaytonaConflictError', daytona.volume.delete(volume), 'in use')
    await writer.delete()
    await reader.delete()
    for (let attempt = 0; ; attempt++) {
      try {
        await daytona.volume.delete(volume)
        break
      } catch (error) {
        if (!(error instanceof sdk.DaytonaConflictError) || attempt > 300) throw error
        await new Promise((ok) => setTimeout(ok, 200))
      }
    }
  },
  async errors(daytona) {
    const run = Math.random().toString(16).slice(2, 10)
    const sandbox = await daytona.create()
    step('missing files')
    await rejects('DaytonaFileNotFoundError', sandbox.fs.downloadFile('nope/missing.txt'), 'missing')
    await rejects('DaytonaFileNotFoundError', sandbox.fs.getFileDetails('/home/daytona/missing'), 'missing')
    await rejects('DaytonaFileNotFoundError', sandbox.fs.listFiles('/home/daytona/missing'), 'missing')
    step('missing sandbox, session, snapshot and volume')
    await rejects('DaytonaNotFoundError', daytona.get(`missing-${run}`), `missing-${run}`)
    await rejects('DaytonaNotFoundError', sandbox.process.getSession('nothing'), 'nothing')
    await rejects('DaytonaNotFoundError', sandbox.process.executeSessionCommand('nothing', { command: 'true' }), 'nothing')
    await rejects('DaytonaNotFoundError', daytona.snapshot.get(`missing-${run}`), `missing-${run}`)
    await rejects('DaytonaNotFoundError', daytona.volume.get(`missing-${run}`), `missing-${run}`)
    await rejects('DaytonaGitRepoNotFoundError', sandbox.git.status('norepo'), 'norepo')
    step('an ended session and a completed command')
    await sandbox.process.createSession('work')
    const done = await sandbox.process.executeSessionCommand('work', { command: 'echo done' })
    await rejects('DaytonaCommandAlreadyCompletedError', sandbox.process.sendSessionCommandInput('work', done.cmdId, 'late'), 'completed')
    await rejects('DaytonaSessionEndedError', sandbox.process.executeSessionCommand('work', { command: 'exit 3' }), 'work')
    await rejects('DaytonaSessionEndedError', sandbox.process.executeSessionCommand('work', { command: 'true' }), 'ended')
    step('timeouts')
    await rejects('DaytonaTimeoutError', sandbox.process.executeCommand('sleep 30', undefined, undefined, 1), 'timeout')
    step('a deleted sandbox')
    await sandbox.delete()
    await rejects('DaytonaNotFoundError', sandbox.refreshData(), sandbox.id)
  },
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
