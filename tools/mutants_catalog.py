"""The mutants that tools/mutants.py runs the differential harness against.

Each one models a plausible bug as one exact text replacement: ``old`` must occur
exactly once in ``file`` (else the runner reports the mutant STALE: the code moved on,
and the mutant needs refreshing).  ``desc`` says what bug it models and what a user
would observe.  Snippets are kept short (one or two lines where possible) so that
unrelated edits near them do not make them stale.

Rules for adding one: it must compile, and it must be a real semantic change -- a
program exists whose outcome differs (say which in ``desc``) -- not an equivalent
mutant (a change of speed or CPU only, or one the code masks elsewhere).  Examples of
equivalent ones, not here: ``_may_run`` with ``<=`` (the worker loop checks busy < cap
again before it takes queued work, so the extra worker woken goes back to idle); a worker
that exits at shutdown with work still queued (its exit path's _staff() starts a new
worker for that work); _finish_unlocked writing the state before the value (no Python
code runs between the writes).
"""
from typing import NamedTuple


class Mutant(NamedTuple):
    name: str
    file: str
    old: str
    new: str
    desc: str


POOL = "gothreads/_pool.pyx"
EXECUTOR = "gothreads/executor.py"
FUTURES = "gothreads/_futures.py"
NOTE = "csrc/note.c"
SPIN = "csrc/spin.c"
ADAPT = "csrc/adapt.c"

CATALOG = [
    # -- waking workers for queued work ---------------------------------------------------
    Mutant(
        "put-skips-wake-when-queued", POOL,
        "if self.idle and self.waking < len(self.queue) and self._may_run():",
        "if self.idle and not self.waking and self._may_run():",
        "Lost wakeup: put wakes an idle worker only when none is already on its way, so a "
        "submit while a woken worker has not yet taken its item leaves the new task queued "
        "behind busy work with workers idle (a task waiting on the one submitted right after "
        "it times out)."),
    Mutant(
        "waking-never-decremented", POOL,
        "                s.waking = False\n                self.waking -= 1\n",
        "                s.waking = False\n",
        "A woken worker never un-counts itself from pool.waking: after max_workers wakeups "
        "put believes workers are on their way and wakes no idle one again (queued tasks "
        "wait for busy workers, or forever on an idle pool)."),
    Mutant(
        "room-minus-one", POOL,
        "return self._surplus() < 0 and len(self.workers) < self.max_threads",
        "return self._surplus() < -1 and len(self.workers) < self.max_threads",
        "_room off by one: the pool starts at most max_workers - 1 workers (none with "
        "max_workers=1: every task hangs; N tasks that meet at a barrier never all run)."),
    Mutant(
        "cap-plus-one", POOL,
        "self.ceiling = min(cap, PY_SSIZE_T_MAX)",
        "self.ceiling = min(cap + 1, PY_SSIZE_T_MAX)",
        "max_workers rounded one too high: the pool runs max_workers + 1 tasks at once (a "
        "task waiting for one queued behind max_workers busy tasks no longer times out)."),
    Mutant(
        "staff-one-short", POOL,
        "pending = len(self.queue) - self.waking  # woken workers take one item each",
        "pending = len(self.queue) - self.waking - 1",
        "_staff staffs one queued item fewer than it should: a worker that leaves "
        "(exit_thread) with one task queued behind it and no idle worker strands that task "
        "until the next submit (pending forever if none comes)."),
    Mutant(
        "worker-exit-no-staff", POOL,
        "                # error) is never stranded.\n                self._staff()",
        "                # error) is never stranded.\n                pass",
        "A worker that leaves (exit_thread) does not staff the work queued behind it: with "
        "no other free worker, queued tasks wait for the next submit, or stay pending "
        "forever."),

    # -- the worker loop ------------------------------------------------------------------
    Mutant(
        "worker-except-exception", POOL,
        "                        value = fn(*args, s)  # a map's runner: MapBatch.run(s)\n"
        "                    failed = False\n                except BaseException as exc:",
        "                        value = fn(*args, s)  # a map's runner: MapBatch.run(s)\n"
        "                    failed = False\n                except Exception as exc:",
        "The worker loop catches Exception, not BaseException: a task raising "
        "KeyboardInterrupt/SystemExit kills its worker and its future stays running "
        "forever (result() hangs) instead of holding the exception."),
    Mutant(
        "worker-drops-args-before-publish", POOL,
        "            else:\n                fut = None\n\n    cdef void _unbusy",
        "            else:\n                fut = None\n            fn = args = kwargs = None\n"
        "\n    cdef void _unbusy",
        "The worker drops a task's callable and arguments before it publishes the result "
        "(the bug fixed in b0e6425): their destructors, user code, run while the future "
        "still reads running (a __del__ that looks at it, or lets a waiter run, sees it "
        "unfinished)."),
    Mutant(
        "worker-callbacks-skipped", POOL,
        "if fut is not None and not (_unlocked_running(fut) and not fut._gt_callbacks):",
        "if fut is not None and not _unlocked_running(fut):",
        "A task's done-callbacks are never run when nobody waits on its future: the "
        "lock-free finish path is taken although callbacks are registered."),
    Mutant(
        "staff-refused-after-shutdown", POOL,
        "            if not self.queue or not self._room():",
        "            if not self.queue or not self._room() or self.shutdown:",
        "Queued work dropped at shutdown: after shutdown(), a worker that leaves "
        "(exit_thread) starts no replacement for the work queued behind it; with it the "
        "last worker, the queued tasks stay pending forever (the stdlib runs them)."),
    Mutant(
        "cancelled-queued-runs", POOL,
        "    return fut.set_running_or_notify_cancel()",
        "    fut.set_running_or_notify_cancel()\n    return True",
        "start_future ignores the cancelled state: a task cancelled while queued still "
        "runs (its future stays cancelled, but its body's effects happen: events set, "
        "subtasks submitted)."),
    Mutant(
        "submit-after-shutdown-accepted", POOL,
        "if self.broken or self.shutdown or _exiting:",
        "if self.broken or _exiting:",
        "submit after shutdown() is accepted instead of raising RuntimeError (the task "
        "runs if a worker is still there, else stays pending forever)."),
    Mutant(
        "retire-claimed-worker", POOL,
        "            if not s.idle:\n                # Claimed between the timeout and now",
        "            if False:\n                # Claimed between the timeout and now",
        "idle_timeout retire takes a claimed worker: a worker whose park timed out just as "
        "a submitter claimed it exits anyway; the task it was woken for waits, and "
        "pool.waking stays counted, so later submits stop waking idle workers."),

    # -- futures: completion and callbacks ----------------------------------------------------
    Mutant(
        "unlocked-running-ignores-lock", POOL,
        "return fut._gt_cond is None and fut._state == _RUNNING",
        "return fut._state == _RUNNING",
        "The lock-free finish is used on a future that a thread waits on: its waiters are "
        "never notified (result(t) returns only at its timeout; wait()/as_completed() "
        "report the finished future as not done)."),
    Mutant(
        "callbacks-run-twice", POOL,
        "        if fut._gt_callbacks:\n            fut._invoke_callbacks()\n        return",
        "        if fut._gt_callbacks:\n            fut._invoke_callbacks()\n"
        "            fut._invoke_callbacks()\n        return",
        "A finished task's done-callbacks run twice."),
    Mutant(
        "callback-before-finish", POOL,
        "        _finish_unlocked(fut, value, failed)\n        if fut._gt_callbacks:\n"
        "            fut._invoke_callbacks()\n        return",
        "        if fut._gt_callbacks:\n            fut._invoke_callbacks()\n"
        "        _finish_unlocked(fut, value, failed)\n        return",
        "Done-callbacks run before the future is finished: a callback sees done() False "
        "and its result() blocks (deadlock); a thread that starts waiting meanwhile is "
        "never notified."),
    Mutant(
        "callback-added-while-running-runs-now", POOL,
        "if state == _PENDING or state == _RUNNING:",
        "if state == _PENDING:",
        "add_done_callback on a running future runs the callback at once, in the caller's "
        "thread, instead of when the task ends (it sees the task unfinished, and its "
        "effects come too early)."),
    Mutant(
        "locked-path-swaps-result-exception", POOL,
        "    if failed:\n        fut.set_exception(value)\n    else:\n        fut.set_result(value)",
        "    if not failed:\n        fut.set_exception(value)\n    else:\n        fut.set_result(value)",
        "A future that someone waited on (its Condition made) or that has callbacks gets "
        "its task's return value as its exception and its exception as its result."),

    # -- shutdown -----------------------------------------------------------------------------
    Mutant(
        "cancel-futures-drops-queue", POOL,
        "(<tuple>item)[0].cancel()",
        "pass  # the queue was emptied, its futures never cancelled",
        "shutdown(cancel_futures=True) empties the queue without cancelling the futures: "
        "they stay pending forever (result() hangs) instead of ending cancelled."),
    Mutant(
        "cancel-futures-ignored", POOL,
        "            self.cancelling = True\n            items = self.queue\n"
        "            self.queue = fresh\n",
        "            self.cancelling = True\n",
        "shutdown(cancel_futures=True) does not cancel queued work: the queued tasks run "
        "(and finish) instead of ending cancelled."),

    # -- blocking regions (handoff_on_wait, gothreads.blocking/secede/rejoin) -----------------
    Mutant(
        "rejoin-not-counted", POOL,
        "            self.seceded -= 1\n            self.busy += 1\n",
        "            self.seceded -= 1\n",
        "Leaving a blocking region does not count the task against max_workers again "
        "(and its end then un-counts it): after one region the pool runs one task more "
        "than max_workers at once, for good."),
    Mutant(
        "secede-no-staff", POOL,
        "            self._staff()\n        except BaseException:\n            self.rejoin(s)",
        "            pass\n        except BaseException:\n            self.rejoin(s)",
        "secede() frees the slot but staffs no queued work: under handoff_on_wait a task "
        "that waits for a subtask queued behind it deadlocks (as in the stdlib) instead "
        "of the subtask getting a worker."),

    # -- map (MapBatch) -----------------------------------------------------------------------
    Mutant(
        "map-runners-minus-one", POOL,
        "for i in range(min(self.n, pool.ceiling)):",
        "for i in range(min(self.n, pool.ceiling) - 1):",
        "map starts one runner too few: with max_workers=1 (or one item) no runner at all, "
        "and every item raises CancelledError; otherwise items that wait on each other "
        "time out."),
    Mutant(
        "map-one-runner", POOL,
        "for i in range(min(self.n, pool.ceiling)):",
        "for i in range(min(self.n, 1)):",
        "map runs its items on one runner, one after another: an item that waits for a "
        "later item (which the stdlib runs on another worker meanwhile) times out."),
    Mutant(
        "map-exception-as-result", POOL,
        "self.state[i] = 2 if failed else 1",
        "self.state[i] = 1",
        "A map item's exception is stored as its result: the iterator yields the "
        "exception object instead of raising it."),
    Mutant(
        "map-result-claimed-not-done", POOL,
        "while self.state[i] == 0:",
        "while self.state[i] == 0 and i >= self.next:",
        "MapBatch.result returns before its item is done: once a runner has claimed item "
        "i, the consumer takes it as finished and yields None."),
    Mutant(
        "map-consumer-wake-dropped", POOL,
        "                if self.waiter == i:\n                    self._wake_consumer()\n"
        "                value = args = None",
        "                if self.waiter == i:\n                    pass\n"
        "                value = args = None",
        "The runner that finishes the item the consumer waits for does not wake it: the "
        "consumer sleeps until every runner is done (results come only at the end; an "
        "item that waits for the consumer to have seen an earlier one times out)."),
    Mutant(
        "map-cancelling-ignored", POOL,
        "if pool.cancelling or pool.broken:",
        "if pool.broken:",
        "shutdown(cancel_futures=True) does not stop a map in progress: its unclaimed "
        "items keep running after shutdown instead of raising CancelledError."),
    Mutant(
        "map-exit-no-replacement", POOL,
        "                    self.add_runner(True)\n                    break",
        "                    break",
        "A map runner whose worker leaves (an item called exit_thread) queues no "
        "replacement runner: with it the only runner, the map's remaining items raise "
        "CancelledError; with others, they run on fewer workers."),
    Mutant(
        "map-item-except-exception", POOL,
        "                try:\n                    value = fn(*args)\n"
        "                    failed = False\n                except BaseException as exc:",
        "                try:\n                    value = fn(*args)\n"
        "                    failed = False\n                except Exception as exc:",
        "A map item raising KeyboardInterrupt/SystemExit escapes the runner: the runner "
        "task fails, the item never gets a state, and the consumer raises the runner's "
        "error (or CancelledError) for later items instead of the item's exception at "
        "its position."),
    Mutant(
        "map-state-before-value", POOL,
        "                self.values[i] = value\n                self.state[i] = 2 if failed else 1\n",
        "                self.state[i] = 2 if failed else 1\n                args = None\n"
        "                self.values[i] = value\n",
        "A map item's state says done before its value is stored, with its arguments "
        "dropped in between (the bug fixed in b0e6425): an argument whose __del__ lets "
        "the consumer run makes it yield None (or raise None, a TypeError)."),

    # -- executor.py ------------------------------------------------------------------------
    Mutant(
        "result-fast-path-ignores-exception", FUTURES,
        "if state == _base.FINISHED and self._exception is None:",
        "if state == _base.FINISHED:",
        "result() on a finished future returns None when its task raised, instead of "
        "raising the exception."),
    Mutant(
        "cancelled-omits-notified", FUTURES,
        "_CANCELLED = (_base.CANCELLED, _base.CANCELLED_AND_NOTIFIED)",
        "_CANCELLED = (_base.CANCELLED,)",
        "cancelled() is False once the cancel was notified (CANCELLED_AND_NOTIFIED: a "
        "worker reached it, or wait() saw it), although cancel() returned True."),
    Mutant(
        "callback-on-done-future-dropped", FUTURES,
        "        if _pool.append_if_unfinished(self, callbacks, fn):\n            return",
        "        _pool.append_if_unfinished(self, callbacks, fn)\n        return",
        "add_done_callback on a future that is already done never calls the callback "
        "(the stdlib calls it at once)."),
    Mutant(
        "shutdown-wait-no-join", EXECUTOR,
        "done = _join_workers(self._pool, workers, deadline)",
        "done = True",
        "shutdown(wait=True) does not join the workers: it returns while tasks still run "
        "(futures not yet done when it returns)."),
    Mutant(
        "map-close-no-stop", EXECUTOR,
        "            finally:\n                batch.stop()",
        "            finally:\n                pass",
        "Closing a map iterator early (or an item raising) does not stop the batch: the "
        "items not yet started still run (the stdlib cancels them)."),
    Mutant(
        "map-buffersize-no-refill", EXECUTOR,
        "                            if args is not None:\n"
        "                                fs.append(executor.submit(fn, *args))",
        "                            if args is not None:\n"
        "                                pass",
        "map(buffersize=k) never submits beyond its first k items: the iterator ends "
        "after k results."),
    Mutant(
        "map-timeout-no-cancel", EXECUTOR,
        "                for future in fs:\n                    future.cancel()",
        "                for future in fs:\n                    pass",
        "A map with timeout or buffersize that times out, raises or is closed early leaves "
        "its remaining submitted items to run (holding workers) instead of cancelling "
        "them."),

    # -- the C note and spin ----------------------------------------------------------------
    Mutant(
        "note-wakeup-lost-unless-parked", NOTE,
        "    if (atomic_exchange_explicit(&n->key, 1, memory_order_release) != 2)\n"
        "        return 0;",
        "    uint32_t parked = 2;\n"
        "    if (!atomic_compare_exchange_strong_explicit(&n->key, &parked, 1,\n"
        "                                                 memory_order_release,\n"
        "                                                 memory_order_relaxed))\n"
        "        return 0;",
        "A note wakeup is dropped when the sleeper is not yet in the kernel (still "
        "spinning, or about to sleep): the claimed worker sleeps until its idle_timeout "
        "(10 s; forever for one kept by min_workers) before running its task."),
    Mutant(
        "note-wakeup-no-futex-wake", NOTE,
        "    gt_os_futex_wake(&n->key);\n    return 1;",
        "    return 1;",
        "A wakeup of a sleeper already in the kernel marks the note but makes no futex "
        "wake: the worker sleeps until its idle_timeout (10 s; forever for one kept by "
        "min_workers) before it runs the task it was woken for."),
    Mutant(
        "note-overwrite-early-wakeup", NOTE,
        "    if (!atomic_compare_exchange_strong_explicit(&n->key, &expect, 2, memory_order_acquire,\n"
        "                                                 memory_order_acquire))\n"
        "        return take(n); /* woken between the spin and here */",
        "    atomic_store_explicit(&n->key, 2, memory_order_relaxed); /* loses a wakeup here */",
        "The sleeper overwrites a wakeup that lands between the end of its spin and its "
        "futex sleep (a store instead of a compare-exchange): that worker sleeps until its "
        "idle_timeout (10 s) with a task waiting for it.  A narrow race."),
    Mutant(
        "spin-reports-caught-on-budget", SPIN,
        "            if (now - start >= budget_ns) {\n",
        "            if (now - start >= budget_ns) {\n                r = 1;\n",
        "A spin that runs out of budget reports its event as seen: a parked worker's "
        "note says 'woken' after its spin, so a timed park never times out (idle workers "
        "never retire at idle_timeout) and idle workers spin instead of sleeping."),
    # -- adaptive concurrency (features: "adaptive", "limit 1") --------------------------
    Mutant(
        "adapt-never-starved", ADAPT,
        "if (queued > 0 && busy >= a->limit && a->limit < a->ceiling &&",
        "if (0 && queued > 0 && busy >= a->limit && a->limit < a->ceiling &&",
        "No starvation rule: a limit lowered to 1 never rises while its one task waits for "
        "one queued behind it, so a program the stdlib finishes with 2 workers hangs."),
    Mutant(
        "adapt-growth-not-staffed", POOL,
        "        if grew and self.queue:\n            self._staff()\n",
        "",
        "A raised limit starts no worker for the work already queued: the queued task that "
        "a running one waits for stays queued until some later submission (forever in a "
        "program that submits nothing more)."),
]
