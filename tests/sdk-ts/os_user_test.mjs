// The official TypeScript SDK creates a root sandbox (`user: 'root'`), run by
// `tests/serve_os_user.rs`: it answers `user` `root`, its commands are uid 0 with `/root` as
// their home, which is `/home/daytona` too, and `getUserHomeDir` says `/root`. The line
// `os-user: ts-root <id>` names the sandbox, whose home the Rust side inspects on the host; the
// last line is `os-user: done`.

import assert from 'node:assert/strict'

import { Daytona } from '@daytonaio/sdk'

import { shell } from './sdk_script.mjs'

const daytona = new Daytona()

console.log('os-user: create with user root')
const sandbox = await daytona.create({ user: 'root' })
console.log(`os-user: ts-root ${sandbox.id}`)
assert.equal(sandbox.user, 'root')
assert.equal((await shell(sandbox, 'echo "$(id -u) $(whoami) $HOME"')).trim(), '0 root /root')
assert.equal(await sandbox.getUserHomeDir(), '/root')
await sandbox.fs.uploadFile(Buffer.from('from ts'), 'from-ts.txt')
assert.equal(await shell(sandbox, 'cat /root/from-ts.txt /home/daytona/from-ts.txt'), 'from tsfrom ts')
const failed = await sandbox.process.executeCommand('touch /etc/x')
assert.notEqual(failed.exitCode, 0, failed.result)
console.log('os-user: done')
