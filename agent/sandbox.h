/* sandbox.h - confining build steps with Landlock (Linux 5.13 and later):
 * everything readable but the daemon's own state, runtime folder and
 * credentials; writable only the job's work folder and temporary folders.
 * Steps are started through the daemon's own binary in --run-step mode,
 * which applies the rules to itself and then executes the step. */
#ifndef AOS_SANDBOX_H
#define AOS_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

/* The kernel's Landlock ABI version (>= 1), or a negative errno when it
 * has none. */
int sandbox_abi(void);

/* Confines the calling process and its future children: no access at all
 * beneath the hidden paths (absolute, canonical), read and execute
 * elsewhere, write beneath the writable ones.  Returns 0, -EOPNOTSUPP
 * without Landlock, or -errno; msg says what failed. */
int sandbox_apply(const char *const *hidden, size_t nhidden, const char *const *writable,
		  size_t nwritable, char *msg, size_t msglen);

/* main() for `aos-publishd --run-step [--hide P]... [--write P]...
 * [--optional] -- ARGV...`: confine, then exec ARGV.  Returns an exit
 * status only when that fails (126, 127; 2 for usage). */
int sandbox_run_step(int argc, char **argv);

#endif
