# Mirrors csrc/gothreads.h, in its order, declaring what Cython uses.  Every function
# there is safe without the GIL and never takes it: hence nogil.
from libc.stdint cimport int64_t, uint64_t

cdef extern from "gothreads.h" nogil:
    ctypedef enum gt_mkind:
        GT_M_RAW
        GT_M_PTHREAD

    ctypedef void (*gt_mfn)(void *arg) noexcept nogil

    ctypedef struct gt_stats:
        uint64_t ms_created
        uint64_t ms_exited
        uint64_t ms_reaped
        uint64_t ms_live
        uint64_t freem_len
        uint64_t freem_pushbacks
        uint64_t stacks_mapped
        uint64_t stacks_cached
        uint64_t stack_bytes_mapped
        uint64_t stack_cache_limit

    int gt_newm(gt_mkind kind, gt_mfn fn, void *arg, size_t stack_size)
    int gt_reap()
    void gt_get_stats(gt_stats *st)
    int gt_raw_supported()
    long gt_stack_size(size_t requested)
    size_t gt_stack_size_min()
    size_t gt_stack_size_max()
    void gt_set_stack_cache_limit(size_t n)
    int gt_churn(gt_mkind kind, long count, int concurrency, gt_mfn fn, void *arg,
                 size_t stack_size, double *seconds)
    ctypedef struct gt_note:
        int slept

    void gt_note_init(gt_note *n)
    int gt_note_wakeup(gt_note *n)
    void gt_note_clear(gt_note *n)
    int gt_note_sleep(gt_note *n, int64_t timeout_ns)

    int gt_spin_allowed()
    int gt_spin_until(int (*done)(void *) noexcept nogil, void *arg, int64_t budget_ns,
                      int64_t *spent_ns)
    int64_t gt_mono_ns()
    void gt_done_post()
    int64_t gt_done_posted_after(int64_t start)
    uint64_t gt_done_seq()
    int64_t gt_done_budget()
    int gt_done_spin(uint64_t seen, int64_t *left_ns)
    void gt_done_adapt(int caught, int64_t spun_ns, int64_t waited_ns)
    int gt_spin_hot(int woke, long queued, long busy)
    void gt_spin_result_returned()
    int gt_note_park(gt_note *n, int64_t timeout_ns, int (*gil_free)(void *) noexcept nogil)

    void gt_set_thread_name(const char *name)

    enum: GT_ADAPT_TICK_NS
    enum: GT_ADAPT_CPU_EVERY
    ctypedef struct gt_adapt:
        long limit
        long ceiling
        int ncpu
        int reason
        double x
        double cores
        uint64_t changes, windows, tasks
        int64_t mean_wall_ns

    void gt_adapt_init(gt_adapt *a, long initial, long ceiling, int ncpu, int64_t now)
    void gt_adapt_set_ceiling(gt_adapt *a, long ceiling, int64_t now)
    void gt_adapt_hold(gt_adapt *a, long limit, int64_t now)
    void gt_adapt_resume(gt_adapt *a, int64_t now)
    void gt_adapt_task(gt_adapt *a, int64_t end_ns, int64_t wall_ns, int64_t cpu_ns,
                       int saturated)
    long gt_adapt_tick(gt_adapt *a, int64_t now, long queued, long busy)
    const char *gt_adapt_reason(int reason)
    int64_t gt_thread_cpu_ns()
    int gt_ncpus()
