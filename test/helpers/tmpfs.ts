/**
 * A real, small file system for storage-fault tests: a tmpfs mounted for one `describe`, that
 * a filler file fills to within a chosen number of bytes, and that can be remounted read-only.
 * Mounting needs root: without it (or when mount fails) the tests are skipped with one line,
 * and under REQUIRE_SERVICES=1 (CI, which runs as root) that is a failure instead.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  rmSync,
  statfsSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe } from 'vitest'

/** A mounted tmpfs. */
export interface Tmpfs {
  /** Where it is mounted. */
  readonly dir: string
  /** Bytes free now. */
  free(): number
  /** Fills it with a filler file until `leave` bytes (rounded down to pages) are free. */
  fill(leave: number): void
  /** Removes the filler file. */
  unfill(): void
  /** Remounts it read-only (`true`) or read-write. Files open for writing block the former. */
  readOnly(on: boolean): void
}

/** Why tmpfs cannot be used here, or undefined when it can. */
function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root'
  const probe = mkdtempSync(join(tmpdir(), 'tokenkeeper-tmpfs-probe-'))
  try {
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], {
      encoding: 'utf8',
    })
    if (mount.status !== 0) {
      return `mount -t tmpfs failed: ${(mount.stderr || mount.error?.message || '').trim()}`
    }
    spawnSync('umount', [probe])
    return undefined
  } finally {
    rmSync(probe, { recursive: true, force: true })
  }
}

const why = unavailable()

function unmount(dir: string): void {
  if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir])
  rmSync(dir, { recursive: true, force: true })
}

/**
 * `describe` with a tmpfs of `size` (a mount option such as `256k`) mounted for its tests and
 * unmounted after them, even when they fail.
 */
export function describeWithTmpfs(title: string, size: string, body: (fs: Tmpfs) => void): void {
  if (why !== undefined) {
    if (process.env.REQUIRE_SERVICES === '1') throw new Error(`REQUIRE_SERVICES=1 but ${why}`)
    console.warn(`skipping "${title}": ${why} (set REQUIRE_SERVICES=1 to make this a failure)`)
    describe.skip(`${title} (skipped: ${why})`, () => body(undefined as unknown as Tmpfs))
    return
  }
  // Made when the tests run, not when they are collected: a filtered-out describe leaves nothing.
  let dir = ''
  let mounted = false
  const fs: Tmpfs = {
    get dir() {
      return dir
    },
    free: () => {
      const stats = statfsSync(dir)
      return stats.bavail * stats.bsize
    },
    fill: (leave) => {
      const fd = openSync(join(dir, 'filler'), 'w')
      try {
        const chunk = Buffer.alloc(64 * 1024, 0x5a)
        // Whole chunks, then pages, until the disk is full; then give back what is to be left.
        for (const size of [chunk.length, 4096]) {
          try {
            for (;;) writeSync(fd, chunk, 0, size)
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
          }
        }
        const { bsize } = statfsSync(dir)
        const filled = Math.floor(leave / bsize) * bsize
        ftruncateSync(fd, Math.max(0, fstatSync(fd).size - filled))
      } finally {
        closeSync(fd)
      }
    },
    unfill: () => rmSync(join(dir, 'filler'), { force: true }),
    readOnly: (on) => {
      execFileSync('mount', ['-o', `remount,${on ? 'ro' : 'rw'}`, dir], { stdio: 'pipe' })
    },
  }
  describe(title, () => {
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'tokenkeeper-tmpfs-'))
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir])
      mounted = true
    })
    afterAll(() => {
      if (mounted) unmount(dir)
      else if (dir) rmSync(dir, { recursive: true, force: true })
    })
    body(fs)
  })
}
