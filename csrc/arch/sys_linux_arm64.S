/*
 * sys_linux_arm64.S -- gt_clone_raw and gt_exit_thread for Linux arm64.
 * The contract of both is stated once, in runtime.h.  Both are .hidden, like every
 * runtime symbol (setup.py): a raw M calls gt_exit_thread directly, never through
 * the PLT.  Compare Go's runtime/sys_linux_arm64.s (clone, exitThread).
 */
#define SYS_clone 220
#define SYS_exit  93

	.text

/* long gt_clone_raw(unsigned long flags x0, void *stack_top x1, void *tls x2,
 *                   gt_m *mp x3, void (*fn)(gt_m *) x4)
 * arm64 clone takes (flags, stack, parent_tid, tls, child_tid).  mp and fn travel on
 * the child's new stack, written by the parent just below stack_top. */
	.globl gt_clone_raw
	.hidden gt_clone_raw
	.type gt_clone_raw, %function
	.p2align 2
gt_clone_raw:
	.cfi_startproc
	stp	x3, x4, [x1, #-16]!	/* x1 = stack_top - 16: [mp, fn] */
	mov	x3, x2			/* tls */
	mov	x2, xzr			/* parent_tid = NULL */
	mov	x4, xzr			/* child_tid = NULL */
	mov	x8, #SYS_clone
	svc	#0
	cbz	x0, 1f
	ret				/* parent: tid or -errno */
1:
	/* Child: sp = stack_top - 16, 16-byte aligned; no frame above us. */
	.cfi_undefined x30
	ldp	x0, x1, [sp]
	mov	x29, xzr
	mov	x30, xzr
	blr	x1
	brk	#0			/* fn never returns */
	.cfi_endproc
	.size gt_clone_raw, .-gt_clone_raw

/* _Noreturn void gt_exit_thread(_Atomic uint32_t *wait x0)
 * STLR orders every earlier access, stack included, before the store; nothing after
 * it touches memory.  SYS_exit ends this thread only. */
	.globl gt_exit_thread
	.hidden gt_exit_thread
	.type gt_exit_thread, %function
	.p2align 2
gt_exit_thread:
	.cfi_startproc
	stlr	wzr, [x0]		/* *wait = GT_FREE_STACK: the stack may be reused now */
#ifdef GT_TEST_BROKEN_EXIT
	/* Negative control only (tests/c): keep writing the stack after the store. */
	mov	x1, #0x400000
	mov	x2, sp
2:	stp	xzr, xzr, [x2, #-16]
	stp	xzr, xzr, [x2, #-32]
	stp	xzr, xzr, [x2, #-48]
	subs	x1, x1, #1
	b.ne	2b
#endif
	mov	x0, xzr
	mov	x8, #SYS_exit
	svc	#0
1:	b	1b			/* no stack to return to */
	.cfi_endproc
	.size gt_exit_thread, .-gt_exit_thread

	.section .note.GNU-stack,"",%progbits
