// The toolbox guides a TypeScript user copies from, run end to end against `ralph-town serve` by
// `tests/serve_sdk_guidestool.rs`: code and commands, sessions and their logs, the file system,
// git, the language server, pseudo terminals and the desktop. Each snippet runs as a user would
// write it (a local remote instead of GitHub), and its result is asserted.
//
// The environment is that of `tests/sdk/guidestool_test.py`: GIT_REMOTE_URL, GIT_REMOTE_USER,
// GIT_REMOTE_PASSWORD, LSP_SANDBOX_PATH, GUIDE_DESKTOP, GUIDES, and SWEEP_CASE (`guides`, or one
// call that once failed); `guidestool-ts: done` ends a run that passed.

import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { Daytona, DaytonaBadRequestError, DaytonaError, DaytonaNotFoundError } from '@daytonaio/sdk'

function step(name) {
  console.log(`guidestool-ts: ${name}`)
}

async function rejects(call, errorClass, words = '') {
  let error
  try {
    await call()
  } catch (caught) {
    error = caught
  }
  assert.ok(error instanceof errorClass, `expected ${errorClass.name}, got ${error}`)
  assert.ok(String(error.message).includes(words), error.message)
  return error
}

async function until(what, check, tries = 300) {
  for (let attempt = 0; attempt < tries; attempt++) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  assert.fail(`never: ${what}`)
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const guides = {
  async code(sandbox, daytona) {
    step('codeRun: TypeScript, then argv, environment variables and timeouts')
    // TypeScript needs `ts-node`, which `serve` never downloads: without one on the host the
    // run is a 127 naming it; the other snippets are JavaScript too, and run with `node`.
    const typescript = await daytona.create({ language: 'typescript' })
    let response = await typescript.process.codeRun(`
function greet(name: string): string {
  return \`Hello, \${name}!\`;
}
console.log(greet("Daytona"));
`)
    const tsNode = (await typescript.process.executeCommand('command -v ts-node')).exitCode === 0
    assert.deepEqual(
      [response.exitCode, response.result],
      tsNode ? [0, 'Hello, Daytona!\n'] : [127, 'ts-node is not installed in this sandbox: code_run in typescript needs it\n'],
    )
    await typescript.delete()
    const javascript = await daytona.create({ language: 'javascript' })
    response = await javascript.process.codeRun(
      `
    console.log(\`Hello, \${process.argv[2]}!\`);
    console.log(\`FOO: \${process.env.FOO}\`);
  `,
      { argv: ['Daytona'], env: { FOO: 'BAR' } },
    )
    // The daemon drops `argv[1]` (the script) before the code runs: the first argument is
    // `argv[1]`, and the guide's `argv[2]` is undefined on Daytona too.
    assert.equal(response.result, 'Hello, undefined!\nFOO: BAR\n')
    response = await javascript.process.codeRun('console.log(process.argv.slice(1))', { argv: ['Daytona'] })
    assert.equal(response.result, "[ 'Daytona' ]\n")
    response = await javascript.process.codeRun('setTimeout(() => console.log("Done"), 2000);', undefined, 5)
    assert.equal(response.result, 'Done\n')
    await rejects(() => javascript.process.codeRun('setTimeout(() => {}, 30000);', undefined, 2), Error, 'timeout')
    await javascript.delete()

    step('code interpreter: the default context, an isolated one, environment variables')
    const seen = []
    const result = await sandbox.codeInterpreter.runCode("counter = 1\nprint(f'Counter initialized at {counter}')", {
      onStdout: (message) => seen.push(message.output),
    })
    assert.equal(result.stdout, 'Counter initialized at 1\n')
    assert.deepEqual(seen, ['Counter initialized at 1\n'])
    const ctx = await sandbox.codeInterpreter.createContext()
    try {
      await sandbox.codeInterpreter.runCode("value = 'stored in ctx'", { context: ctx })
      const stored = await sandbox.codeInterpreter.runCode('print(value)', { context: ctx })
      assert.equal(stored.stdout, 'stored in ctx\n')
      assert.equal((await sandbox.codeInterpreter.runCode('print(value)')).error.name, 'NameError')
    } finally {
      await sandbox.codeInterpreter.deleteContext(ctx)
    }
    const envs = await sandbox.codeInterpreter.runCode("import os\nprint(os.environ['GREETING'])", {
      envs: { GREETING: 'hi there' },
    })
    assert.equal(envs.stdout, 'hi there\n')
    await rejects(() => sandbox.codeInterpreter.runCode('import time\ntime.sleep(30)', { timeout: 2 }), DaytonaError)
    assert.equal((await sandbox.codeInterpreter.runCode('print(counter)')).stdout, '1\n')

    step('executeCommand: a working directory, environment variables and a timeout')
    const home = await sandbox.getUserHomeDir()
    await sandbox.fs.createFolder('workspace/src', '755')
    await sandbox.fs.uploadFile(Buffer.from('x'), 'workspace/src/index.ts')
    response = await sandbox.process.executeCommand('ls -la', 'workspace/src')
    assert.ok(response.result.includes('index.ts'), response.result)
    response = await sandbox.process.executeCommand('pwd', `${home}/workspace/src`)
    assert.equal(response.result.trim(), `${home}/workspace/src`)
    response = await sandbox.process.executeCommand('echo $CUSTOM_SECRET', undefined, { CUSTOM_SECRET: 'DAYTONA' })
    assert.equal(response.result, 'DAYTONA\n')
    response = await sandbox.process.executeCommand('sleep 1 && echo finished', undefined, undefined, 5)
    assert.equal(response.result, 'finished\n')
    await rejects(() => sandbox.process.executeCommand('sleep 30', undefined, undefined, 2), DaytonaError)
    response = await sandbox.process.executeCommand('echo oops >&2; exit 3')
    assert.deepEqual([response.exitCode, response.result], [3, 'oops\n'])
  },

  async sessions(sandbox) {
    const processes = sandbox.process
    const sessionId = 'my-session'
    step('sessions: create, execute, keep state, get and list')
    await processes.createSession(sessionId)
    await processes.executeSessionCommand(sessionId, { command: 'export GREETING=hi' })
    let response = await processes.executeSessionCommand(sessionId, { command: 'echo $GREETING; echo err >&2; false' })
    assert.deepEqual([response.exitCode, response.stdout, response.stderr], [1, 'hi\n', 'err\n'])
    const session = await processes.getSession(sessionId)
    assert.equal(session.commands.length, 2)
    assert.ok((await processes.listSessions()).some((s) => s.sessionId === sessionId))
    const command = await processes.getSessionCommand(sessionId, response.cmdId)
    assert.equal(command.exitCode, 1)

    step('sessions: an asynchronous command, its logs followed by callbacks and after')
    const started = await processes.executeSessionCommand(sessionId, {
      command: 'for i in {1..3}; do echo "Step $i"; echo "Error $i" >&2; sleep 0.5; done',
      runAsync: true,
    })
    const stdout = []
    const stderr = []
    await processes.getSessionCommandLogs(
      sessionId,
      started.cmdId,
      (chunk) => stdout.push(chunk),
      (chunk) => stderr.push(chunk),
    )
    assert.equal(stdout.join(''), 'Step 1\nStep 2\nStep 3\n')
    assert.equal(stderr.join(''), 'Error 1\nError 2\nError 3\n')
    const logs = await processes.getSessionCommandLogs(sessionId, started.cmdId)
    assert.deepEqual([logs.stdout, logs.stderr], ['Step 1\nStep 2\nStep 3\n', 'Error 1\nError 2\nError 3\n'])

    step('sessions: input to a running command')
    const asking = await processes.executeSessionCommand(sessionId, {
      command: 'read -p "Enter your name: " name && echo "Hello, $name!"',
      runAsync: true,
    })
    await processes.sendSessionCommandInput(sessionId, asking.cmdId, 'Alice\n')
    await until('the command ends', async () => (await processes.getSessionCommand(sessionId, asking.cmdId)).exitCode === 0)
    assert.ok((await processes.getSessionCommandLogs(sessionId, asking.cmdId)).stdout.includes('Hello, Alice!'))

    step('sessions: delete')
    await processes.deleteSession(sessionId)
    await rejects(() => processes.getSession(sessionId), DaytonaNotFoundError)
  },

  async files(sandbox) {
    const fs = sandbox.fs
    const home = await sandbox.getUserHomeDir()
    const local = mkdtempSync(join(tmpdir(), 'guidestool-'))
    step('fs: create a folder, upload, list and describe')
    await fs.createFolder('workspace/data', '755')
    writeFileSync(join(local, 'local_file.txt'), 'from a local file\n')
    await fs.uploadFile(Buffer.from('from a local file\n'), 'workspace/data/file.txt')
    await fs.uploadFile(join(local, 'local_file.txt'), 'workspace/data/streamed.txt')
    const files = await fs.listFiles('workspace/data')
    assert.deepEqual(files.map((file) => file.name).sort(), ['file.txt', 'streamed.txt'])
    const info = await fs.getFileDetails('workspace/data/file.txt')
    assert.deepEqual([info.name, info.isDir, info.size], ['file.txt', false, 18])
    assert.ok((await fs.getFileDetails('workspace/data')).isDir)

    step('fs: upload and download several files')
    await fs.uploadFiles([
      { source: join(local, 'local_file.txt'), destination: 'workspace/data/one.txt' },
      { source: Buffer.from('{"key": "value"}'), destination: 'workspace/data/config.json' },
      { source: Buffer.from('#!/bin/bash\necho Hello\n'), destination: 'workspace/data/script.sh' },
    ])
    const results = await fs.downloadFiles([
      { source: 'workspace/data/one.txt', destination: join(local, 'one.txt') },
      { source: 'workspace/data/config.json' },
      { source: 'workspace/data/missing.txt' },
    ])
    assert.equal(readFileSync(join(local, 'one.txt'), 'utf8'), 'from a local file\n')
    assert.equal(results[1].result.toString(), '{"key": "value"}')
    assert.ok(results[2].error, results[2])

    step('fs: download to memory, to a local file and as a stream')
    assert.equal((await fs.downloadFile('workspace/data/file.txt')).toString(), 'from a local file\n')
    await fs.downloadFile('workspace/data/file.txt', join(local, 'downloaded.txt'))
    assert.equal(statSync(join(local, 'downloaded.txt')).size, 18)
    const stream = await fs.downloadFileStream('workspace/data/config.json')
    const chunks = []
    for await (const chunk of stream) chunks.push(chunk)
    assert.equal(Buffer.concat(chunks).toString(), '{"key": "value"}')

    step('fs: permissions, find, search, replace and move')
    await fs.setFilePermissions('workspace/data/script.sh', { mode: '755' })
    assert.equal((await fs.getFileDetails('workspace/data/script.sh')).permissions, '0755')
    assert.equal((await sandbox.process.executeCommand('workspace/data/script.sh')).result, 'Hello\n')
    await fs.uploadFile(Buffer.from("console.log('old_version')\n"), 'workspace/src/app.ts')
    const matches = await fs.findFiles('workspace/src', 'old_version')
    assert.deepEqual(
      matches.map((match) => [match.file, match.line]),
      [['workspace/src/app.ts', 1]],
    )
    assert.deepEqual((await fs.searchFiles(`${home}/workspace`, '*.json')).files, [`${home}/workspace/data/config.json`])
    const replaced = await fs.replaceInFiles(['workspace/src/app.ts'], 'old_version', 'new_version')
    assert.deepEqual(replaced.map((result) => result.success), [true])
    assert.ok((await fs.downloadFile('workspace/src/app.ts')).toString().includes('new_version'))
    await fs.moveFiles('workspace/data/file.txt', 'workspace/data/renamed.txt')
    await rejects(() => fs.getFileDetails('workspace/data/file.txt'), DaytonaNotFoundError)

    step('fs: delete a file and a folder')
    await fs.deleteFile('workspace/data/renamed.txt')
    await rejects(() => fs.deleteFile('workspace/data'), DaytonaBadRequestError, 'without recursive flag')
    await fs.deleteFile('workspace/data', true)
    await rejects(() => fs.getFileDetails('workspace/data'), DaytonaNotFoundError)
  },

  async git(sandbox) {
    const url = process.env.GIT_REMOTE_URL
    const user = process.env.GIT_REMOTE_USER
    const password = process.env.GIT_REMOTE_PASSWORD
    const repo = 'workspace/ts-repo'
    step('git: clone with credentials, status, branches')
    await sandbox.git.clone(url, repo, undefined, undefined, user, password)
    let status = await sandbox.git.status(repo)
    assert.deepEqual([status.currentBranch, status.ahead, status.behind, status.branchPublished], ['main', 0, 0, true])
    assert.ok((await sandbox.git.branches(repo)).branches.includes('main'))

    step('git: a branch, add, commit, push')
    await sandbox.git.createBranch(repo, 'ts-feature')
    await sandbox.fs.uploadFile(Buffer.from('ts\n'), `${repo}/ts.txt`)
    await sandbox.git.add(repo, ['ts.txt'])
    const commit = await sandbox.git.commit(repo, 'Add ts', 'John Doe', 'john@example.com')
    assert.equal(commit.sha.length, 40)
    await sandbox.git.push(repo, user, password)
    assert.equal((await sandbox.git.status(repo)).fileStatus.length, 0)

    step('git: clone a branch and a commit, checkout, pull, delete a branch')
    await sandbox.git.clone(url, 'workspace/ts-branch', 'ts-feature', undefined, user, password)
    assert.equal((await sandbox.git.status('workspace/ts-branch')).currentBranch, 'ts-feature')
    await sandbox.git.clone(url, 'workspace/ts-pinned', undefined, commit.sha, user, password)
    const head = await sandbox.process.executeCommand('git -C workspace/ts-pinned rev-parse HEAD')
    assert.equal(head.result.trim(), commit.sha)
    await sandbox.git.checkoutBranch(repo, 'main')
    await sandbox.git.clone(url, 'workspace/ts-other', undefined, undefined, user, password)
    await sandbox.fs.uploadFile(Buffer.from('later\n'), 'workspace/ts-other/later.txt')
    await sandbox.git.add('workspace/ts-other', ['.'])
    await sandbox.git.commit('workspace/ts-other', 'Later', 'Jane', 'jane@example.com')
    await sandbox.git.push('workspace/ts-other', user, password)
    await sandbox.git.pull(repo, user, password)
    assert.equal((await sandbox.fs.downloadFile(`${repo}/later.txt`)).toString(), 'later\n')
    await sandbox.git.deleteBranch(repo, 'ts-feature')
    assert.ok(!(await sandbox.git.branches(repo)).branches.includes('ts-feature'))
    status = await sandbox.git.status(repo)
    assert.deepEqual([status.currentBranch, status.ahead, status.behind], ['main', 0, 0])
  },

  async lsp(sandbox) {
    step('lsp: a TypeScript project: start, open, symbols, completions, stop')
    await sandbox.fs.uploadFile(
      Buffer.from('export class Account {\n  balance(): number {\n    return 1;\n  }\n}\n\nnew Account().bal'),
      'workspace/project/index.ts',
    )
    const lsp = await sandbox.createLspServer('typescript', 'workspace/project')
    await lsp.start()
    await lsp.didOpen('index.ts')
    const symbols = await lsp.documentSymbols('index.ts')
    assert.ok(symbols.some((symbol) => symbol.name === 'Account'), JSON.stringify(symbols))
    const found = await lsp.sandboxSymbols('Account')
    assert.ok(found.some((symbol) => symbol.name === 'Account'), JSON.stringify(found))
    const completions = await lsp.completions('index.ts', { line: 6, character: 17 })
    assert.ok(completions.items.some((item) => item.label === 'balance'), JSON.stringify(completions.items.slice(0, 5)))
    await lsp.didClose('index.ts')
    await lsp.stop()
  },

  async pty(sandbox) {
    const home = await sandbox.getUserHomeDir()
    step('pty: create, send input, resize, wait')
    let output = ''
    const ptyHandle = await sandbox.process.createPty({
      id: 'my-interactive-session',
      cwd: home,
      envs: { TERM: 'xterm-256color', LANG: 'en_US.UTF-8' },
      cols: 120,
      rows: 30,
      onData: (data) => {
        output += new TextDecoder().decode(data)
      },
    })
    await ptyHandle.waitForConnection()
    const info = await sandbox.process.getPtySessionInfo('my-interactive-session')
    assert.deepEqual([info.cols, info.rows, info.cwd], [120, 30, home])
    await ptyHandle.sendInput('echo "Hello, PTY!"\n')
    const resized = await sandbox.process.resizePtySession('my-interactive-session', 150, 40)
    assert.deepEqual([resized.cols, resized.rows], [150, 40])
    await ptyHandle.sendInput('exit\n')
    const result = await ptyHandle.wait()
    assert.equal(result.exitCode, 0)
    assert.ok(output.includes('Hello, PTY!'), output)
    await ptyHandle.disconnect()

    step('pty: a long-running process, killed')
    const long = await sandbox.process.createPty({ id: 'long-running', cols: 120, rows: 30, onData: () => {} })
    await long.waitForConnection()
    await long.sendInput('while true; do echo "Running... $(date)"; sleep 1; done\n')
    await sleep(1000)
    assert.ok((await sandbox.process.listPtySessions()).some((session) => session.id === 'long-running'))
    await long.kill()
    const killed = await long.wait()
    assert.ok(killed.exitCode !== 0 || killed.error, JSON.stringify(killed))
    await long.disconnect()
  },

  async desktop(sandbox) {
    const computer = sandbox.computerUse
    step('computer use: start, mouse, keyboard')
    await computer.start()
    await until('the desktop runs', async () => (await computer.getStatus()).status === 'active', 450)
    const moved = await computer.mouse.move(100, 200)
    assert.deepEqual([moved.x, moved.y], [100, 200])
    await computer.mouse.click(100, 200)
    await computer.mouse.click(100, 200, 'left', true)
    await computer.mouse.drag(50, 50, 150, 150)
    assert.ok(await computer.mouse.scroll(100, 200, 'down', 3))
    await computer.keyboard.type('Hello, World!')
    await computer.keyboard.press('Return')
    await computer.keyboard.press('c', ['ctrl'])
    await computer.keyboard.hotkey('ctrl+c')

    step('computer use: screenshots, display, windows, a recording')
    assert.ok((await computer.screenshot.takeFullScreen()).screenshot)
    const region = await computer.screenshot.takeRegion({ x: 100, y: 100, width: 300, height: 200 })
    const png = Buffer.from(region.screenshot, 'base64')
    // This SDK passes the region to its API client as (height, width, y, x), whose order is
    // (x, y, width, height): Daytona gets the same query, a 100x100 region at (200, 300).
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [100, 100])
    const compressed = await computer.screenshot.takeCompressed({ format: 'jpeg', quality: 80, scale: 0.5 })
    assert.deepEqual([...Buffer.from(compressed.screenshot, 'base64').subarray(0, 2)], [0xff, 0xd8])
    assert.ok((await computer.display.getInfo()).displays[0].width > 0)
    assert.ok(Array.isArray((await computer.display.getWindows()).windows))
    const recording = await computer.recording.start('test-recording')
    await sleep(2000)
    const stopped = await computer.recording.stop(recording.id)
    assert.equal(stopped.status, 'completed')
    const local = mkdtempSync(join(tmpdir(), 'guidestool-'))
    await computer.recording.download(recording.id, join(local, 'recording.mp4'))
    assert.ok(statSync(join(local, 'recording.mp4')).size > 0)
    await computer.recording.delete(recording.id)
    await computer.stop()
  },
}

const cases = {
  async guides(daytona) {
    const chosen = (process.env.GUIDES || Object.keys(guides).join(' '))
      .split(' ')
      .filter((name) => name !== 'lsp' || process.env.LSP_SANDBOX_PATH)
      .filter((name) => name !== 'desktop' || process.env.GUIDE_DESKTOP)
    const envVars = process.env.LSP_SANDBOX_PATH ? { PATH: process.env.LSP_SANDBOX_PATH } : {}
    const sandbox = await daytona.create({ envVars })
    for (const name of chosen) await guides[name](sandbox, daytona)
    await sandbox.delete()
  },
  // The daemon refuses any directory, an empty one too, without `recursive`.
  async 'delete-directory'(daytona) {
    const sandbox = await daytona.create()
    await sandbox.fs.createFolder('empty', '755')
    step('deleteFile of an empty folder without recursive is refused')
    await rejects(() => sandbox.fs.deleteFile('empty'), DaytonaBadRequestError, 'cannot delete directory without recursive flag')
    assert.ok((await sandbox.fs.getFileDetails('empty')).isDir)
    await sandbox.fs.deleteFile('empty', true)
    await rejects(() => sandbox.fs.getFileDetails('empty'), DaytonaNotFoundError)
    await sandbox.delete()
  },
}

await cases[process.env.SWEEP_CASE](new Daytona())
console.log('guidestool-ts: done')
