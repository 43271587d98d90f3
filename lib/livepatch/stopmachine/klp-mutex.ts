// klp_mutex of the stop_machine core. The enable path may sleep between
// breakpoint retries while holding it, so other writers, registrations and
// unregistrations queue behind it in arrival order. When nobody holds it a
// critical section runs synchronously, as kernel code under an uncontended
// mutex does.

export class KlpMutex {
  private held = false
  private readonly waiters: Array<() => void> = []

  get locked (): boolean { return this.held }

  /** Number of callers waiting for the mutex. */
  get waiting (): number { return this.waiters.length }

  /** Runs fn holding the mutex: at once when it is free, else after the holders before it. */
  run<T> (fn: () => T | Promise<T>): T | Promise<T> {
    if (!this.held) {
      this.held = true
      return this.enter(fn)
    }
    return new Promise<T>((resolve, reject) => {
      this.waiters.push(() => {
        try {
          const r = this.enter(fn)
          if (r instanceof Promise) r.then(resolve, reject)
          else resolve(r)
        } catch (e) {
          reject(e)
        }
      })
    })
  }

  private enter<T> (fn: () => T | Promise<T>): T | Promise<T> {
    let r: T | Promise<T>
    try {
      r = fn()
    } catch (e) {
      this.release()
      throw e
    }
    if (r instanceof Promise) {
      return r.then(v => { this.release(); return v }, e => { this.release(); throw e })
    }
    this.release()
    return r
  }

  /** Hands the mutex to the next waiter (it stays held), or frees it. */
  private release (): void {
    const next = this.waiters.shift()
    if (next) queueMicrotask(next)
    else this.held = false
  }
}
