/**
 * Result records kept for a wait that has not started yet, per task: a later `waitForReady` replays
 * them to its `onMessage` before the latest one, as Celery's consumer hands a later
 * `get(on_message=...)` every state still unread (STARTED, RETRY, PROGRESS... of a task that ran
 * between the send and the wait). Bounded like Celery's message buffer: `perTask` records per task
 * (its oldest dropped first) and `total` in all (the tasks kept longest losing theirs first).
 */
export class Backlog<T> {
  private readonly kept = new Map<string, T[]>();
  private size = 0;

  constructor(
    private readonly perTask: number,
    private readonly total: number,
  ) {}

  /** Keeps `record` for task (or channel) `key`. */
  push(key: string, record: T): void {
    let list = this.kept.get(key);
    if (!list) this.kept.set(key, (list = []));
    list.push(record);
    this.size++;
    if (list.length > this.perTask) {
      list.shift();
      this.size--;
    }
    while (this.size > this.total) {
      const oldest = this.kept.keys().next().value;
      if (oldest === undefined) break;
      this.take(oldest);
    }
  }

  /** Removes and returns what was kept for `key` (oldest first). */
  take(key: string): T[] | undefined {
    const list = this.kept.get(key);
    if (!list) return undefined;
    this.kept.delete(key);
    this.size -= list.length;
    return list;
  }

  clear(): void {
    this.kept.clear();
    this.size = 0;
  }
}
