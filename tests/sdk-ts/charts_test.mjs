// Daytona's TypeScript charts example against `ralph-town serve`: matplotlib code run through
// `sandbox.process.codeRun` gets each figure `plt.show()` showed back in
// `response.artifacts.charts` (type, title, axis labels, elements, a PNG in base64) and no
// chart line in `result`. Run by `tests/serve_sdk_charts.rs` with DAYTONA_API_URL and
// DAYTONA_API_KEY pointing at an in-process server; the sandbox's `python3` must have
// matplotlib. Any failure exits non-zero with its stack.

import assert from 'node:assert/strict'

import { ChartType, Daytona } from '@daytonaio/sdk'

function step(name) {
  console.log(`sdk-ts-charts: ${name}`)
}

const code = `
import matplotlib.pyplot as plt

plt.figure(figsize=(4, 3))
plt.plot([0, 1, 2], [2, 3, 5], label="primes")
plt.title("Line Chart")
plt.xlabel("n")
plt.ylabel("prime")
plt.show()

plt.figure(figsize=(4, 3))
plt.bar(["x", "y"], [1.5, 4])
plt.title("Bar Chart")
plt.show()
print("drawn")
`

const daytona = new Daytona()
const sandbox = await daytona.create({ language: 'python' }, { timeout: 60 })

step('line and bar')
const reply = await sandbox.process.codeRun(code)
assert.equal(reply.exitCode, 0, reply.result)
assert.equal(reply.result, 'drawn\n')
const charts = reply.artifacts.charts
assert.deepEqual(
  charts.map((chart) => [chart.type, chart.title]),
  [
    [ChartType.LINE, 'Line Chart'],
    [ChartType.BAR, 'Bar Chart'],
  ],
)
const [line, bar] = charts
assert.deepEqual([line.x_label, line.y_label], ['n', 'prime'])
assert.deepEqual(line.elements, [{ label: 'primes', points: [[0, 2], [1, 3], [2, 5]] }])
assert.deepEqual(
  bar.elements.map((element) => [element.label, element.value]),
  [
    ['x', '1.5'],
    ['y', '4'],
  ],
)
for (const chart of charts) {
  const png = Buffer.from(chart.png, 'base64')
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
}

await sandbox.delete()
step('done')
process.exit(0)
