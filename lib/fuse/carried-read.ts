// Blocking reads of a special file (e.g. /dev/kmsg waiting for the next
// record) whose FUSE request may be answered before the read itself ends:
// EINTR when the reader is interrupted, ENODEV at unmount. The file's read
// then still completes later, and what it returns has already moved the
// file's cursor. So a read is never issued twice and never dropped: its
// outcome goes to the next read request on the same open file.

export type ReadOutcome = { ok: true, value: Buffer | number } | { ok: false, error: unknown }

type ReadResult = Buffer | number | Promise<Buffer | number>

interface Waiter {
  start: () => ReadResult
  deliver: (o: ReadOutcome) => void
}

/** One per open special file. */
export class CarriedRead {
  private inflight = false
  private stash: ReadOutcome | null = null
  private readonly waiters: Waiter[] = []

  /**
   * Serves one read request: from an outcome left by an abandoned request,
   * by joining the read still under way, or by starting one (start). deliver
   * is called exactly once unless the returned abandon function is called
   * first; then the outcome is kept for the next request.
   */
  request (start: () => ReadResult, deliver: (o: ReadOutcome) => void): () => void {
    const waiter: Waiter = { start, deliver }
    if (this.stash) {
      const o = this.stash
      this.stash = null
      deliver(o)
      return noop
    }
    this.waiters.push(waiter)
    if (!this.inflight) this.startFor(waiter)
    return () => {
      const i = this.waiters.indexOf(waiter)
      if (i >= 0) this.waiters.splice(i, 1)
    }
  }

  private startFor (waiter: Waiter): void {
    let r: ReadResult
    try {
      r = waiter.start()
    } catch (error) {
      this.settled({ ok: false, error })
      return
    }
    if (r instanceof Promise) {
      this.inflight = true
      r.then((value) => this.settled({ ok: true, value }), (error) => this.settled({ ok: false, error }))
    } else {
      this.settled({ ok: true, value: r })
    }
  }

  private settled (o: ReadOutcome): void {
    this.inflight = false
    const first = this.waiters.shift()
    if (first) first.deliver(o)
    else this.stash = o
    // concurrent requests on one open file read one after the other
    const next = this.waiters[0]
    if (next && !this.inflight) this.startFor(next)
  }
}

function noop (): void {}
