/*
 * sys_linux_amd64.S -- gt_clone_raw and gt_exit_thread for Linux x86-64.
 * The contract of both is stated once, in runtime.h.  Both are .hidden, like every
 * runtime symbol (setup.py): a raw M calls gt_exit_thread directly, never through
 * the PLT.  Compare Go's runtime/sys_linux_amd64.s (clone, exitThread).
 */
#define SYS_clone 56
#define SYS_exit  60

	.text

/* long gt_clone_raw(unsigned long flags %rdi, void *stack_top %rsi, void *tls %rdx,
 *                   gt_m *mp %rcx, void (*fn)(gt_m *) %r8)
 * mp and fn travel on the child's new stack: the parent writes them just below
 * stack_top and the child reads them back, so no register has to survive SYSCALL
 * (which clobbers %rcx and %r11). */
	.globl gt_clone_raw
	.hidden gt_clone_raw
	.type gt_clone_raw, @function
gt_clone_raw:
	.cfi_startproc
	subq	$16, %rsi
	movq	%rcx, 0(%rsi)		/* mp */
	movq	%r8, 8(%rsi)		/* fn */
	movq	%rdx, %r8		/* tls: the 5th clone argument */
	xorl	%edx, %edx		/* parent_tid = NULL */
	xorl	%r10d, %r10d		/* child_tid = NULL */
	movl	$SYS_clone, %eax
	syscall
	testq	%rax, %rax
	jz	1f
	ret				/* parent: tid or -errno */
1:
	/* Child: %rsp = stack_top - 16, 16-byte aligned; no frame above us. */
	.cfi_undefined rip
	xorl	%ebp, %ebp
	movq	0(%rsp), %rdi
	movq	8(%rsp), %rax
	call	*%rax
	ud2				/* fn never returns */
	.cfi_endproc
	.size gt_clone_raw, .-gt_clone_raw

/* _Noreturn void gt_exit_thread(_Atomic uint32_t *wait %rdi)
 * The store is the last access to the stack (x86 stores are releases); the syscall
 * pushes nothing.  SYS_exit ends this thread only, never exit_group. */
	.globl gt_exit_thread
	.hidden gt_exit_thread
	.type gt_exit_thread, @function
gt_exit_thread:
	.cfi_startproc
	movl	$0, (%rdi)		/* *wait = GT_FREE_STACK: the stack may be reused now */
#ifdef GT_TEST_BROKEN_EXIT
	/* Negative control only (tests/c): keep writing the stack after the store. */
	movl	$200000, %ecx
2:	movq	$0, -8(%rsp)
	movq	$0, -16(%rsp)
	movq	$0, -24(%rsp)
	movq	$0, -32(%rsp)
	movq	$0, -40(%rsp)
	movq	$0, -48(%rsp)
	decl	%ecx
	jnz	2b
#endif
	movl	$SYS_exit, %eax
	xorl	%edi, %edi
	syscall
	ud2				/* no stack to return to */
	.cfi_endproc
	.size gt_exit_thread, .-gt_exit_thread

	.section .note.GNU-stack,"",@progbits
