/*
 * Start the service and be its PID 1: one poll loop over a signalfd (and the
 * health server), so no work ever happens in a signal handler.  Signals are
 * blocked in the shim from before the fork, which also makes PID 1 receive
 * them at all: the kernel drops default-action signals sent to a namespace's
 * init, but never blocked ones.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include "shim.h"

/* What the shim passes on to the service. */
static const int forwarded[] = {
	SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH,
};

/* Why the child did not become the service, sent back through a CLOEXEC pipe. */
struct exec_report {
	int stage;	/* STAGE_CHDIR or STAGE_EXEC */
	int err;	/* errno */
};
enum { STAGE_CHDIR = 1, STAGE_EXEC };

int64_t shim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int is_stop_signal(int sig)
{
	return sig == SIGTERM || sig == SIGINT || sig == SIGQUIT;
}

/* With SIGTTOU held, as a process outside the foreground group may then move it. */
static void set_foreground(pid_t pgrp)
{
	sigset_t ttou, old;

	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	sigprocmask(SIG_BLOCK, &ttou, &old);
	(void)tcsetpgrp(0, pgrp);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void __attribute__((noreturn))
child(int rfd, const sigset_t *orig, int tty, char *const *argv, const char *workdir)
{
	struct exec_report r = { 0, 0 };
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	setpgid(0, 0);
	/*
	 * With a terminal the shim held in the foreground (docker run -it), the
	 * service's group takes it, so ^C reaches the service, which may also
	 * read the terminal.
	 */
	if (tty)
		set_foreground(getpid());
	/*
	 * Whatever started the shim may have ignored some of these (a shell
	 * ignores SIGINT and SIGQUIT for background jobs); the service gets
	 * them as the defaults, or the shim could not stop it with them.
	 */
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(*forwarded); i++)
		sigaction(forwarded[i], &dfl, NULL);
	if (chdir(workdir)) {
		r.stage = STAGE_CHDIR;
		r.err = errno;
	} else {
		sigprocmask(SIG_SETMASK, orig, NULL);
		execvp(argv[0], argv);
		r.stage = STAGE_EXEC;
		r.err = errno;
	}
	(void)!write(rfd, &r, sizeof(r));
	_exit(r.err == ENOENT ? SHIM_EXIT_NOTFOUND : SHIM_EXIT_NOEXEC);
}

static int exec_failed(const struct exec_report *r, char *const *argv, const char *workdir)
{
	if (r->stage == STAGE_CHDIR) {
		shim_log("%s: cannot use as the working directory: %s", workdir, strerror(r->err));
		return SHIM_EXIT_NOEXEC;
	}
	if (!strchr(argv[0], '/') && r->err == ENOENT) {
		shim_log("%s: not found in PATH=%s", argv[0],
			 getenv("PATH") ? getenv("PATH") : "");
		return SHIM_EXIT_NOTFOUND;
	}
	shim_log("%s: cannot run the service (in %s): %s", argv[0], workdir, strerror(r->err));
	return r->err == ENOENT ? SHIM_EXIT_NOTFOUND : SHIM_EXIT_NOEXEC;
}

/* The shim's exit status for a wait status: the shell's 128+N for a signal. */
static int exit_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return SHIM_EXIT_INTERNAL;
}

/* Reap every child that has exited; 1 when the service was one of them. */
static int reap(pid_t service, int *status)
{
	int st, found = 0;
	pid_t w;

	while ((w = waitpid(-1, &st, WNOHANG)) > 0 || (w < 0 && errno == EINTR))
		if (w == service) {
			*status = st;
			found = 1;
		}
	return found;
}

int shim_run(const struct shim_config *c, char *const *argv, const char *workdir,
	     const char *banner)
{
	struct health *h = NULL;
	struct exec_report r;
	struct pollfd *pfd = NULL;
	sigset_t set, orig;
	int64_t kill_at = -1;
	int sfd = -1, ep[2] = { -1, -1 }, rc = SHIM_EXIT_INTERNAL, status = 0, stopping = 0;
	int killed = 0, done = 0, tty = isatty(0) && tcgetpgrp(0) == getpgrp();
	ssize_t got;
	pid_t pid;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(*forwarded); i++)
		sigaddset(&set, forwarded[i]);
	if (sigprocmask(SIG_BLOCK, &set, &orig) ||
	    (sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		shim_log("signalfd: %s", strerror(errno));
		return SHIM_EXIT_INTERNAL;
	}
	/* Outside a PID namespace orphans would go to the host's init, unreaped by us. */
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
		shim_log("warning: cannot become a subreaper: %s", strerror(errno));
	if (c->health_port && !(h = health_open(c)))
		goto out;
	if (pipe2(ep, O_CLOEXEC)) {
		shim_log("pipe: %s", strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		shim_log("fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(ep[0]);
		child(ep[1], &orig, tty, argv, workdir);
	}
	close(ep[1]);
	ep[1] = -1;
	/* Both sides set the group, so neither a signal nor a kill(-pid) can race it. */
	setpgid(pid, pid);
	do
		got = read(ep[0], &r, sizeof(r));
	while (got < 0 && errno == EINTR);
	if (got == (ssize_t)sizeof(r)) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		rc = exec_failed(&r, argv, workdir);
		goto out;
	}
	if (!c->quiet)
		shim_log("%s; started %s (pid %d)", banner, argv[0], (int)pid);

	pfd = bento_xcalloc(1 + health_max_fds(), sizeof(*pfd));
	while (!done) {
		int64_t now = shim_now_ms(), deadline = killed ? -1 : kill_at, hd = -1;
		size_t n = 1;
		int timeout = -1;

		pfd[0].fd = sfd;
		pfd[0].events = POLLIN;
		if (h)
			n += health_fds(h, pfd + 1, &hd);
		if (hd >= 0 && (deadline < 0 || hd < deadline))
			deadline = hd;
		/* Capped: a long BENTO_STOP_TIMEOUT in ms does not fit an int. */
		if (deadline >= 0)
			timeout = deadline <= now ? 0 : (int)(deadline - now < 3600000 ? deadline - now
										: 3600000);
		if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
			shim_log("poll: %s: killing the service", strerror(errno));
			kill(-pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			break;
		}
		now = shim_now_ms();
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				int sig = (int)si.ssi_signo;

				if (sig == SIGCHLD)
					continue;
				kill(pid, sig);
				if (is_stop_signal(sig) && kill_at < 0) {
					stopping = 1;
					kill_at = now + (int64_t)c->stop_timeout_ms;
				}
			}
		}
		/* SIGCHLDs coalesce: every pass reaps all that have exited. */
		done = reap(pid, &status);
		if (!done && !killed && kill_at >= 0 && now >= kill_at) {
			shim_log("the service did not stop within %llu.%03llus: killing its "
				 "process group", (unsigned long long)(c->stop_timeout_ms / 1000),
				 (unsigned long long)(c->stop_timeout_ms % 1000));
			kill(-pid, SIGKILL);
			killed = 1;
		}
		if (h && !done)
			health_serve(h, pfd + 1, n - 1, stopping, now);
	}
	/* Orphans that exited together with the service. */
	reap(pid, &status);
	rc = exit_status(status);
	if (tty)
		set_foreground(getpgrp());
out:
	free(pfd);
	health_close(h);
	if (ep[0] >= 0)
		close(ep[0]);
	if (ep[1] >= 0)
		close(ep[1]);
	close(sfd);
	/*
	 * The mask stays: unblocking now would let a late SIGTERM kill the
	 * shim and replace the service's status with its own.
	 */
	return rc;
}
