'use strict';

// Retry helper with exponential backoff and jitter, plus a tiny event
// emitter so callers can log attempts without wiring a logger in here.

class TinyEmitter {
  constructor() {
    this.listeners = Object.create(null);
  }

  on(event, fn) {
    (this.listeners[event] ||= []).push(fn);
    return () => this.off(event, fn);
  }

  off(event, fn) {
    const list = this.listeners[event];
    if (!list) return;
    const idx = list.indexOf(fn);
    if (idx >= 0) list.splice(idx, 1);
  }

  emit(event, payload) {
    for (const fn of this.listeners[event] || []) {
      try {
        fn(payload);
      } catch (err) {
        // A broken listener must never break the retry loop.
        console.error(`listener for "${event}" threw:`, err);
      }
    }
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new Error('aborted'));
    }, { once: true });
  });

/**
 * Compute the delay before the next attempt ("full jitter" strategy).
 * @param {number} attempt zero-based attempt number
 * @param {{ baseMs: number, maxMs: number }} opts
 */
function backoffDelay(attempt, { baseMs, maxMs }) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.floor(Math.random() * ceiling);
}

/**
 * Run `task` until it succeeds or we give up.
 * @template T
 * @param {(attempt: number) => Promise<T>} task
 * @param {object} [options]
 * @returns {Promise<T>}
 */
async function retry(task, options = {}) {
  const {
    retries = 4,
    baseMs = 200,
    maxMs = 5000,
    shouldRetry = (err) => !err || err.retryable !== false,
    events = new TinyEmitter(),
    signal,
  } = options;

  let lastError;
  for (let attempt = 0; attempt <= retries; attempt++) {
    events.emit('attempt', { attempt });
    try {
      const result = await task(attempt);
      events.emit('success', { attempt });
      return result;
    } catch (err) {
      lastError = err;
      if (attempt === retries || !shouldRetry(err)) break;
      const delay = backoffDelay(attempt, { baseMs, maxMs });
      events.emit('retry', { attempt, delay, error: err });
      await sleep(delay, signal);
    }
  }
  events.emit('giveup', { error: lastError });
  throw lastError;
}

module.exports = { retry, TinyEmitter, backoffDelay };

if (require.main === module) {
  // Demo: a flaky operation that succeeds on the third try.
  let calls = 0;
  const flaky = async () => {
    calls += 1;
    if (calls < 3) {
      const err = new Error(`temporary failure #${calls}`);
      err.code = 'ETIMEDOUT';
      throw err;
    }
    return { ok: true, calls };
  };

  const events = new TinyEmitter();
  events.on('retry', ({ attempt, delay, error }) =>
    console.log(`attempt ${attempt} failed (${error.message}); waiting ${delay}ms`));
  events.on('success', ({ attempt }) => console.log(`succeeded on attempt ${attempt}`));

  retry(flaky, { baseMs: 50, events })
    .then((r) => console.log('result:', r))
    .catch((e) => console.error('gave up:', e.message));
}
