// A reporter beside the default one: after its summary, one line saying how many tests were
// skipped and why. Tests that need a server or a browser skip with `(skipped: <why>)` in the
// title of their suite (test/helpers/services.ts, test/examples/portal/browser.test.ts); the default summary only
// counts them, and the warning each file prints scrolls away.
import type { Reporter, TestCase, TestModule, Vitest } from 'vitest/node'

const MARK = /\(skipped: (.*)\)$/

/** The reason a skipped test gives, in its own title or that of a suite around it. */
function reasonOf(test: TestCase): string | undefined {
  for (let node: TestCase['parent'] | TestCase = test; node.type !== 'module'; node = node.parent) {
    const found = MARK.exec(node.name)
    if (found) return found[1]
  }
  return undefined
}

/** `42 tests: 30 because …; 12 because …`, or undefined when none was skipped for a reason. */
export function skipSummary(modules: readonly TestModule[]): string | undefined {
  const reasons = new Map<string, number>()
  let others = 0
  for (const module of modules) {
    for (const test of module.children.allTests('skipped')) {
      const reason = reasonOf(test)
      if (reason === undefined) others += 1
      else reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
    }
  }
  if (reasons.size === 0) return undefined
  const total = [...reasons.values()].reduce((a, b) => a + b, 0)
  const parts = [...reasons].map(([reason, n]) => `${n} because ${reason}`)
  if (others > 0) parts.push(`(and ${others} skipped by it.skip, todo or a filter)`)
  const tests = (n: number) => `${n} test${n === 1 ? '' : 's'}`
  return `${tests(total)}: ${parts.join('; ')}. (REQUIRE_SERVICES=1, REQUIRE_BROWSER=1: a failure instead.)`
}

export default class SkipSummary implements Reporter {
  #vitest: Vitest | undefined

  onInit(vitest: Vitest): void {
    this.#vitest = vitest
  }

  onTestRunEnd(modules: readonly TestModule[]): void {
    const line = skipSummary(modules)
    if (line === undefined) return
    const log = this.#vitest?.logger
    if (log) log.log(`   Skipped  ${line}\n`)
    else console.log(`Skipped ${line}`)
  }
}
