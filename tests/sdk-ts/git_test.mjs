// The official Daytona TypeScript SDK's repository and configuration git calls against
// `ralph-town serve`: `sandbox.git.init`, `reset`, `restore`, `remoteAdd`, `remotes`,
// `remoteGet`, `setConfig`, `getConfig`, `configureUser` and `dangerouslyAuthenticate`. Run by
// `tests/serve_sdk_git.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an in-process
// server, and GIT_REMOTE_URL at a smart-HTTP remote on loopback that wants `ann` and
// GIT_REMOTE_PASSWORD. Any failure exits non-zero with its stack.

import assert from 'node:assert/strict'

import {
  Daytona,
  DaytonaConflictError,
  DaytonaForbiddenError,
  DaytonaGitAuthFailedError,
  DaytonaNotFoundError,
} from '@daytonaio/sdk'

import { shell } from './sdk_script.mjs'

function step(name) {
  console.log(`sdk-ts-git: ${name}`)
}

const daytona = new Daytona()
const sandbox = await daytona.create({}, { timeout: 60 })
const git = sandbox.git

step('init and configure')
await git.init('repo', false, 'trunk')
assert.equal((await git.status('repo')).currentBranch, 'trunk')
await assert.rejects(git.init('repo'), DaytonaConflictError)
await git.configureUser('Ts Local', 'ts@example.com', 'local', 'repo')
assert.equal(await git.getConfig('user.name', 'local', 'repo'), 'Ts Local')
await git.setConfig('sdkts.greeting', 'hello there')
assert.equal(await git.getConfig('sdkts.greeting'), 'hello there')
assert.equal(await git.getConfig('sdkts.absent'), undefined)
await assert.rejects(git.setConfig('user.name', 'x', 'system'), DaytonaForbiddenError)

step('reset and restore')
await sandbox.fs.uploadFile(Buffer.from('one\n'), 'repo/file.txt')
await git.add('repo', ['file.txt'])
await git.commit('repo', 'one', 'Ts', 'ts@example.com')
await sandbox.fs.uploadFile(Buffer.from('two\n'), 'repo/file.txt')
await git.add('repo', ['file.txt'])
await git.reset('repo', 'mixed')
const after = (await git.status('repo')).fileStatus.find((entry) => entry.name === 'file.txt')
assert.deepEqual([after.staging, after.worktree], ['Unmodified', 'Modified'])
await git.restore('repo', ['file.txt'])
assert.equal((await sandbox.fs.downloadFile('repo/file.txt')).toString(), 'one\n')
await assert.rejects(git.restore('repo', ['missing.txt']), DaytonaNotFoundError)

step('remotes')
await git.init('remote.git', true)
await git.remoteAdd('repo', 'origin', '../remote.git')
await git.push('repo')
await git.remoteAdd('repo', 'copy', '../remote.git', true)
assert.ok((await shell(sandbox, 'git -C repo branch -r')).includes('copy/trunk'))
const listed = await git.remotes('repo')
assert.deepEqual(
  listed.remotes.map((remote) => [remote.name, remote.url]),
  [
    ['copy', '../remote.git'],
    ['origin', '../remote.git'],
  ],
)
assert.equal(await git.remoteGet('repo', 'origin'), '../remote.git')
await assert.rejects(git.remoteAdd('repo', 'origin', 'other.git'), DaytonaConflictError)

step('dangerouslyAuthenticate')
const url = process.env.GIT_REMOTE_URL
await assert.rejects(git.clone(url, 'before'), DaytonaGitAuthFailedError)
await git.dangerouslyAuthenticate('ann', process.env.GIT_REMOTE_PASSWORD, new URL(url).host, 'http')
await git.clone(url, 'authed')
assert.equal((await sandbox.fs.downloadFile('authed/README.md')).toString(), 'over http\n')

await sandbox.delete()
step('done')
process.exit(0)
