/*
 * churn.h -- internal to csrc/: what churn (churn.c) shares with the Ms it creates,
 * among them raw Ms, whose body lives in m_raw.c.
 */
#ifndef GOTHREADS_CHURN_H
#define GOTHREADS_CHURN_H

#include <stdatomic.h>
#include <stdint.h>

#include "gothreads.h"

/* The bookkeeping churn's Ms share with the churning thread. */
typedef struct gt_churn_ctx {
    gt_mfn fn;             /* the user body; NULL: none */
    void *arg;
    _Atomic long done;     /* bodies finished; release-incremented by the Ms */
    _Atomic long reaped;   /* of its Ms, how many the reaper freed (gt_newm_counted) */
    _Atomic long corrupt;  /* bodies whose stack probe found foreign writes */
} gt_churn_ctx;

/* A churn body's check that nobody else writes its stack while it runs: fill a buffer
 * with a pattern, let time pass, read it back.  A reaper that hands a stack to a new M
 * while the old thread still writes it (or the reverse) shows up here.  Raw-safe. */
static inline int gt_stack_probe(void)
{
    volatile uintptr_t buf[64];
    for (unsigned i = 0; i < 64; i++)
        buf[i] = (uintptr_t)&buf[i] ^ 0x5a5a5a5aU;
    for (volatile unsigned spin = 0; spin < 200; spin++)
        ;
    for (unsigned i = 0; i < 64; i++)
        if (buf[i] != ((uintptr_t)&buf[i] ^ 0x5a5a5a5aU))
            return 1;
    return 0;
}

/* A raw M's churn body (m_raw.c, built with the raw rules): counts itself done. */
void gt_raw_churn_body(void *ctx);

#endif /* GOTHREADS_CHURN_H */
