// Daytona's published TypeScript examples of work inside a sandbox (commands, sessions and their
// streamed logs, files, PTYs, git with a language server), condensed and run as a user would
// against the server the test started, each checking what the example prints or leaves behind.
// Adapted where an example needs the internet: the repository it clones is a local bare one
// (EXAMPLES_REPOS, shown to sandboxes read-only), the packages its image installs are on the
// sandbox's `PATH` (EXAMPLES_SANDBOX_PATH) or, for `ts-node`, missing, as the daemon says.
//
// SWEEP_CASE picks the run: `examples` (all of them), or one regression case named after what
// broke. Prints `examples-ts: done` at the end.

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

import { Daytona, Image } from '@daytonaio/sdk'

import { shell, until } from './sdk_script.mjs'

function step(name) {
  console.log(`examples-ts: ${name}`)
}

// The file the git-lsp example fixes, shared with the Python script.
const APP_TS = new URL('../fixtures/examples/learn-typescript-app.ts', import.meta.url)

/** A `file://` URL of a bare repository holding `step09_class/app.ts` on `master`. */
function bareRepository() {
  const root = process.env.EXAMPLES_REPOS
  const work = path.join(root, 'learn-typescript')
  const bare = path.join(root, 'learn-typescript.git')
  if (!fs.existsSync(bare)) {
    fs.mkdirSync(path.join(work, 'step09_class'), { recursive: true })
    fs.copyFileSync(APP_TS, path.join(work, 'step09_class', 'app.ts'))
    const git = ['-c', 'user.name=examples', '-c', 'user.email=examples@localhost']
    execFileSync('git', [...git, 'init', '-q', '-b', 'master', work])
    execFileSync('git', [...git, '-C', work, 'add', '.'])
    execFileSync('git', [...git, '-C', work, 'commit', '-qm', 'a class to fix'])
    execFileSync('git', ['clone', '-q', '--bare', work, bare])
  }
  return `file://${bare}`
}

async function execCommand(daytona) {
  const sandbox = await daytona.create(
    {
      image: Image.base('ubuntu:22.04'),
      language: 'typescript',
      autoStopInterval: 60,
      autoArchiveInterval: 60,
      autoDeleteInterval: 120,
    },
    { onSnapshotCreateLogs: () => {} },
  )
  step('exec-command: code without its runtime, and a command')
  const code = await sandbox.process.codeRun('console.log("Hello World from code!")')
  assert.equal(code.exitCode, 127, code.result)
  assert.match(code.result, /ts-node/)
  const cmd = await sandbox.process.executeCommand('echo "Hello World from CMD!"')
  assert.deepEqual([cmd.exitCode, cmd.result], [0, 'Hello World from CMD!\n'])

  step('exec-command: a session keeps its shell state')
  await sandbox.process.createSession('exec-session-1')
  assert.deepEqual((await sandbox.process.getSession('exec-session-1')).commands, [])
  const first = await sandbox.process.executeSessionCommand('exec-session-1', { command: 'export FOO=BAR' })
  const updated = await sandbox.process.getSession('exec-session-1')
  assert.deepEqual(
    updated.commands.map((c) => [c.command, c.exitCode]),
    [['export FOO=BAR', 0]],
  )
  assert.equal((await sandbox.process.getSessionCommand('exec-session-1', first.cmdId)).command, 'export FOO=BAR')
  const second = await sandbox.process.executeSessionCommand('exec-session-1', { command: 'echo $FOO' })
  assert.equal(second.stdout, 'BAR\n')
  const logs = await sandbox.process.getSessionCommandLogs('exec-session-1', second.cmdId)
  assert.deepEqual([logs.stdout, logs.stderr], ['BAR\n', ''])
  await sandbox.process.deleteSession('exec-session-1')

  step('exec-command: logs of a running command stream in chunks')
  await sandbox.process.createSession('exec-session-async-logs')
  const running = await sandbox.process.executeSessionCommand('exec-session-async-logs', {
    command: 'counter=1; while (( counter <= 3 )); do echo "Count: $counter"; ((counter++)); sleep 1; done',
    runAsync: true,
  })
  const chunks = []
  await sandbox.process.getSessionCommandLogs('exec-session-async-logs', running.cmdId, (chunk) => chunks.push(chunk))
  assert.equal(chunks.join(''), 'Count: 1\nCount: 2\nCount: 3\n')
  await daytona.delete(sandbox)
}

async function fileOperations(daytona) {
  step('file-operations: upload, run, search, replace, download under `~`')
  const sandbox = await daytona.create()
  assert.deepEqual(await sandbox.fs.listFiles('~'), [])
  const newDir = '~/project-files'
  await sandbox.fs.createFolder(newDir, '755')
  const local = path.join(process.env.EXAMPLES_REPOS, 'local-example.txt')
  fs.writeFileSync(local, 'This is a local file created for use case purposes')
  const configData = JSON.stringify({ name: 'project-config', settings: { debug: true } }, null, 2)
  await sandbox.fs.uploadFiles([
    { source: local, destination: path.join(newDir, 'example.txt') },
    { source: Buffer.from(configData), destination: path.join(newDir, 'config.json') },
    { source: Buffer.from('#!/bin/bash\necho "Hello from script!"\nexit 0'), destination: path.join(newDir, 'script.sh') },
  ])
  assert.deepEqual((await shell(sandbox, `ls ${newDir}`)).split(/\s+/).filter(Boolean), [
    'config.json',
    'example.txt',
    'script.sh',
  ])
  await shell(sandbox, `chmod +x ${path.join(newDir, 'script.sh')}`)
  assert.equal(await shell(sandbox, path.join(newDir, 'script.sh')), 'Hello from script!\n')
  const matches = await sandbox.fs.searchFiles(newDir, '*.json')
  assert.deepEqual(matches.files, ['/home/daytona/project-files/config.json'])
  await sandbox.fs.replaceInFiles([path.join(newDir, 'config.json')], '"debug": true', '"debug": false')
  const config = await sandbox.fs.downloadFile(path.join(newDir, 'config.json'))
  assert.ok(config.includes('"debug": false'), config.toString())
  await sandbox.fs.uploadFile(Buffer.from('Config: Production mode'), path.join(newDir, 'report.txt'))
  assert.equal(await shell(sandbox, 'cat /home/daytona/project-files/report.txt'), 'Config: Production mode')
  await daytona.delete(sandbox)
}

/** A 120x30 PTY session and a function answering all it printed so far. */
async function openPty(sandbox, id) {
  let output = ''
  const handle = await sandbox.process.createPty({
    id,
    cols: 120,
    rows: 30,
    onData: (data) => (output += new TextDecoder().decode(data)),
  })
  return [handle, () => output]
}

async function pty(daytona) {
  const sandbox = await daytona.create()
  step('pty: an interactive shell, resized, then exited')
  const [handle, output] = await openPty(sandbox, 'interactive-pty-session')
  // Each line waits for the prompt that asks for it: lines typed before the shell reads at its
  // prompt are lost, and a loaded machine starts it later than the example's second.
  await until(output, '$ ')
  await handle.sendInput('read -p "Enter your name: " name && echo "Hello, $name!"\n')
  await until(output, '\rEnter your name: ')
  await handle.sendInput('Bob\n')
  await until(output, 'Hello, Bob!')
  const info = await sandbox.process.resizePtySession('interactive-pty-session', 80, 25)
  assert.deepEqual([info.cols, info.rows], [80, 25])
  await handle.sendInput('stty size\n')
  await handle.sendInput('exit\n')
  const result = await handle.wait()
  assert.equal(result.exitCode, 0, output())
  assert.ok(output().includes('Hello, Bob!') && output().includes('25 80'), output())

  step('pty: a looping command, killed')
  const [loop, looped] = await openPty(sandbox, 'kill-pty-session')
  await until(looped, '$ ')
  await loop.sendInput('while true; do echo "Running... $(date)"; sleep 1; done\n')
  await until(looped, '\nRunning...')
  await loop.kill()
  const killed = await loop.wait()
  assert.deepEqual([killed.exitCode, killed.error], [137, 'SIGKILL'])
  assert.ok(looped().includes('Running...'), looped())
  await daytona.delete(sandbox)
}

async function gitLsp(daytona) {
  step('git-lsp: clone, find the line, open it in the TypeScript server, fix it')
  const sandbox = await daytona.create(
    {
      image: Image.base('ubuntu:25.10'),
      language: 'typescript',
      envVars: { PATH: process.env.EXAMPLES_SANDBOX_PATH },
    },
    { onSnapshotCreateLogs: () => {} },
  )
  const projectDir = 'learn-typescript'
  await sandbox.git.clone(bareRepository(), projectDir, 'master')
  const matches = await sandbox.fs.findFiles(projectDir, 'var obj1 = new Base();')
  assert.deepEqual(
    matches.map((m) => [m.file, m.line]),
    [['learn-typescript/step09_class/app.ts', 13]],
  )
  const lsp = await sandbox.createLspServer('typescript', projectDir)
  await lsp.start()
  await lsp.didOpen(matches[0].file)
  const symbols = new Set((await lsp.documentSymbols(matches[0].file)).map((s) => s.name))
  for (const name of ['Base', 'E', 'describe', 'obj1']) assert.ok(symbols.has(name), [...symbols].join())
  await sandbox.fs.replaceInFiles([matches[0].file], 'var obj1 = new Base();', 'var obj1 = new E();')
  await lsp.didClose(matches[0].file)
  await lsp.didOpen(matches[0].file)
  const completions = await lsp.completions(matches[0].file, { line: 12, character: 18 })
  const labels = new Set(completions.items.map((item) => item.label))
  for (const name of ['Base', 'E', 'obj1']) assert.ok(labels.has(name), name)
  assert.match(await shell(sandbox, `cat ${projectDir}/step09_class/app.ts`), /new E\(\)/)
  await lsp.stop()
  await daytona.delete(sandbox)
}

const cases = {
  async examples(daytona) {
    await execCommand(daytona)
    await fileOperations(daytona)
    await pty(daytona)
    await gitLsp(daytona)
  },

  // `~` in a file route was a directory named `~` below the work directory.
  async 'tilde-paths'(daytona) {
    const sandbox = await daytona.create()
    await shell(sandbox, 'mkdir -p ~/seen && echo hi > ~/seen/a.txt')
    assert.deepEqual((await sandbox.fs.listFiles('~')).map((f) => f.name), ['seen'])
    await sandbox.fs.createFolder('~/made', '755')
    await sandbox.fs.moveFiles('~/seen/a.txt', '~/made/b.txt')
    assert.deepEqual((await sandbox.fs.searchFiles('~', '*.txt')).files, ['/home/daytona/made/b.txt'])
    assert.equal((await sandbox.fs.getFileDetails('~/made/b.txt')).size, 3)
    await sandbox.fs.deleteFile('~/made/b.txt')
    assert.equal(await shell(sandbox, 'ls -A ~/made'), '')
    await daytona.delete(sandbox)
  },
}

try {
  await cases[process.env.SWEEP_CASE](new Daytona())
  console.log('examples-ts: done')
} catch (error) {
  console.error(error)
  process.exit(1)
}
