// Many clients of the official Daytona TypeScript SDK at once against one `ralph-town serve`, as
// `tests/sdk/soak_test.py` does with the Python SDK. Run by `tests/serve_soak.rs` with
// DAYTONA_API_URL and DAYTONA_API_KEY pointing at an in-process server and SOAK_REPOS at a
// directory sandboxes see (a bare repository to clone is made there). SOAK_WORKERS async workers
// share one `Daytona` client, gathered with Promise.all, each living SOAK_ROUNDS sandbox lives
// (a named create with labels, exec, file upload and download, a session, a git clone, a labels
// update, a filtered list, stop and start, delete), each answer checked to be its own sandbox's;
// meanwhile a lister checks that no sandbox is listed twice, and twin creates of one name race.
// A bounded number of rounds, not a time.
//
// Nothing may fail in transport: every error a request of Node's http meets (the SDK retries a
// connection closed or refused, which would hide one) is recorded and fails the run, and a 5xx
// is never expected. Any failure exits non-zero with its stack.

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'

import { Daytona, DaytonaConflictError } from '@daytonaio/sdk'

import { shell } from './sdk_script.mjs'

const WORKERS = Number(process.env.SOAK_WORKERS ?? 6)
const ROUNDS = Number(process.env.SOAK_ROUNDS ?? 2)

function step(name) {
  console.log(`soak-ts: ${name}`)
}

// Every transport error a request met, retried or not: a lost connection must never happen.
const transportErrors = []
const emit = http.ClientRequest.prototype.emit
http.ClientRequest.prototype.emit = function (event, ...args) {
  if (event === 'error') {
    const error = args[0]
    transportErrors.push(`${this.method} ${this.path}: ${error?.code ?? ''} ${error?.message}`)
  }
  return emit.call(this, event, ...args)
}

/** A `file://` URL of a bare repository holding `README` (`soak`). */
function bareRepository() {
  const root = process.env.SOAK_REPOS
  const work = path.join(root, 'work')
  const bare = path.join(root, 'soak.git')
  const git = ['-c', 'user.name=soak', '-c', 'user.email=soak@localhost']
  execFileSync('git', [...git, 'init', '-q', '-b', 'main', work])
  fs.writeFileSync(path.join(work, 'README'), 'soak\n')
  execFileSync('git', [...git, '-C', work, 'add', '.'])
  execFileSync('git', [...git, '-C', work, 'commit', '-qm', 'soak'])
  execFileSync('git', ['clone', '-q', '--bare', work, bare])
  return `file://${bare}`
}

async function listed(daytona, labels) {
  const ids = []
  for await (const sandbox of daytona.list({ labels })) ids.push(sandbox.id)
  return ids
}

const sha256 = (data) => createHash('sha256').update(data).digest('hex')

/** One sandbox's life, checking each answer is this sandbox's own. */
async function life(daytona, run, repo, worker, round) {
  const tag = `${worker}-${round}`
  const labels = { soak: run, worker: String(worker) }
  const name = `soak-${run}-${tag}`
  const sandbox = await daytona.create({ name, labels, envVars: { SOAK_TAG: tag } })
  assert.equal(sandbox.name, name)
  assert.equal((await shell(sandbox, 'echo "$SOAK_TAG"')).trim(), tag)

  const data = Buffer.concat([randomBytes(64 * 1024), Buffer.from(tag)])
  await sandbox.fs.uploadFile(data, `data-${tag}.bin`)
  assert.ok(data.equals(await sandbox.fs.downloadFile(`data-${tag}.bin`)), `${tag}: downloaded other bytes`)
  assert.equal((await shell(sandbox, `sha256sum data-${tag}.bin`)).split(' ')[0], sha256(data))

  const session = `session-${tag}`
  await sandbox.process.createSession(session)
  await sandbox.process.executeSessionCommand(session, { command: 'export KEPT="$SOAK_TAG"' })
  const kept = await sandbox.process.executeSessionCommand(session, { command: 'echo "kept $KEPT"' })
  assert.equal(kept.stdout ?? kept.output, `kept ${tag}\n`)
  await sandbox.process.deleteSession(session)

  await sandbox.git.clone(repo, 'repo')
  assert.equal((await sandbox.fs.downloadFile('repo/README')).toString(), 'soak\n')

  const updated = { ...labels, round: String(round) }
  const set = await sandbox.setLabels(updated)
  for (const [key, value] of Object.entries(updated)) assert.equal(set[key], value, JSON.stringify(set))
  assert.deepEqual(await listed(daytona, updated), [sandbox.id])

  await sandbox.stop()
  assert.equal(sandbox.state, 'stopped')
  await sandbox.start()
  assert.equal(sandbox.state, 'started')
  assert.equal(
    await shell(sandbox, `echo "$SOAK_TAG"; cat data-${tag}.bin | sha256sum`),
    `${tag}\n${sha256(data)}  -\n`,
  )
  await daytona.delete(sandbox)
}

async function lives(daytona, run, repo, worker) {
  for (let round = 0; round < ROUNDS; round++) await life(daytona, run, repo, worker, round)
}

/** Lists this run's sandboxes until `stopped()`; no listing may show one twice. */
async function lister(daytona, run, stopped) {
  let listings = 0
  while (!stopped() || listings === 0) {
    const ids = await listed(daytona, { soak: run })
    assert.equal(ids.length, new Set(ids).size, `a sandbox listed twice: ${ids}`)
    listings++
  }
  return listings
}

/** Two creates of one name at once: one makes it, the other is refused as a conflict. */
async function twins(daytona, run) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const params = { name: `soak-${run}-twin-${attempt}`, labels: { soak: run, twins: '1' } }
    const results = await Promise.allSettled([daytona.create(params), daytona.create(params)])
    const won = results.filter((result) => result.status === 'fulfilled')
    const lost = results.filter((result) => result.status === 'rejected')
    assert.equal(won.length, 1, JSON.stringify(results.map((result) => result.status)))
    assert.ok(lost[0].reason instanceof DaytonaConflictError, String(lost[0].reason))
    assert.equal(lost[0].reason.statusCode, 409)
    await daytona.delete(won[0].value)
  }
}

const daytona = new Daytona()
const run = randomUUID().slice(0, 8)
const repo = bareRepository()
step(`${WORKERS} workers, ${ROUNDS} rounds each, a lister and twin creates`)
let done = false
const listing = lister(daytona, run, () => done)
try {
  await Promise.all([
    ...Array.from({ length: WORKERS }, (_, worker) => lives(daytona, run, repo, worker)),
    twins(daytona, run),
  ])
} finally {
  done = true
}
step(`listed ${await listing} times`)
assert.deepEqual(await listed(daytona, { soak: run }), [], 'sandboxes left')
assert.deepEqual(transportErrors, [], 'transport errors')
step('done')
