/* gil_probe.c: 1 when some thread holds the GIL, 0 when it is free or unknown. */
#ifndef GOTHREADS_GIL_PROBE_H
#define GOTHREADS_GIL_PROBE_H
int gt_py_gil_held(void);
/* 1 when this build knows the running version's GIL layout. */
int gt_py_gil_probe_known(void);
#endif
