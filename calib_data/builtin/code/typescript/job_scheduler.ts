// A small in-process job scheduler with priorities and bounded concurrency.
// Used by the batch importer so that large uploads don't starve quick jobs.

export type Priority = 'high' | 'normal' | 'low';

export interface Job<T> {
  id: string;
  priority: Priority;
  run: (signal: AbortSignal) => Promise<T>;
  timeoutMs?: number;
}

export type JobOutcome<T> =
  | { id: string; status: 'done'; value: T; elapsedMs: number }
  | { id: string; status: 'failed'; error: Error; elapsedMs: number }
  | { id: string; status: 'timeout'; elapsedMs: number };

const PRIORITY_WEIGHT: Record<Priority, number> = { high: 0, normal: 1, low: 2 };

/** Binary min-heap keyed by a compare function. */
class Heap<T> {
  private items: T[] = [];
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get length(): number {
    return this.items.length;
  }

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l], a[m])) m = l;
        if (r < a.length && this.less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

interface Queued<T> {
  job: Job<T>;
  seq: number;
  resolve: (outcome: JobOutcome<T>) => void;
}

export class JobScheduler<T> {
  private readonly queue: Heap<Queued<T>>;
  private running = 0;
  private seq = 0;

  constructor(private readonly concurrency = 2) {
    // Lower weight first; FIFO within the same priority.
    this.queue = new Heap<Queued<T>>((a, b) => {
      const wa = PRIORITY_WEIGHT[a.job.priority];
      const wb = PRIORITY_WEIGHT[b.job.priority];
      return wa !== wb ? wa < wb : a.seq < b.seq;
    });
  }

  submit(job: Job<T>): Promise<JobOutcome<T>> {
    return new Promise((resolve) => {
      this.queue.push({ job, seq: this.seq++, resolve });
      this.drain();
    });
  }

  get pending(): number {
    return this.queue.length;
  }

  private drain(): void {
    while (this.running < this.concurrency) {
      const next = this.queue.pop();
      if (!next) return;
      this.running++;
      this.execute(next).finally(() => {
        this.running--;
        this.drain();
      });
    }
  }

  private execute({ job, resolve }: Queued<T>): Promise<void> {
    const controller = new AbortController();
    const started = Date.now();
    const elapsed = () => Date.now() - started;

    return new Promise<void>((done) => {
      let settled = false;
      let timer: ReturnType<typeof setTimeout> | undefined;

      // Whichever comes first (result, error or timeout) wins; later ones are ignored.
      const finish = (outcome: JobOutcome<T>): void => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        resolve(outcome);
        done();
      };

      if (job.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          controller.abort();
          finish({ id: job.id, status: 'timeout', elapsedMs: elapsed() });
        }, job.timeoutMs);
      }

      // Wrapping in then() also catches jobs that throw synchronously.
      Promise.resolve()
        .then(() => job.run(controller.signal))
        .then(
          (value) => finish({ id: job.id, status: 'done', value, elapsedMs: elapsed() }),
          (e: unknown) => {
            const error = e instanceof Error ? e : new Error(String(e));
            finish({ id: job.id, status: 'failed', error, elapsedMs: elapsed() });
          },
        );
    });
  }
}
