/*
 * os_darwin.c -- the reserved place for macOS.  Not built: setup.py refuses darwin.
 *
 * What a port has to provide is runtime.h's OS layer.  The plan, following Go (which
 * treats darwin as an OS-managed-stack platform, mStackIsSystemAllocated):
 *   - gt_os_newosproc: a joinable pthread.  libpthread on darwin has no
 *     pthread_tryjoin_np and keeps its own thread record, so the M would take a
 *     system-allocated stack (the stack cache then only counts, never reuses);
 *   - gt_os_tryjoin: pthread_join once freewait == GT_FREE_REF (the thread has left our
 *     code, so the join is at most the few instructions of libpthread's exit);
 *   - gt_os_newosproc_raw: -ENOSYS (darwin threads must come from libpthread, as in Go
 *     since 1.11); there is no arch/sys_darwin_*.S;
 *   - signal masks with pthread_sigmask around pthread_create (no setsigmask_np);
 *   - gt_os_thread_preemptions: thread_info(THREAD_BASIC_INFO) has no such count;
 *     -1 makes every gap in a spin count as a crowded machine (spin.c).
 */
#error "gothreads: macOS is not ported yet (see the comment above)"
