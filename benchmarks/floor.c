/*
 * The kernel's share of an inventory: the system calls ipcns's hop makes
 * for each namespace (src/ipcns/linux/_inventory.py), made from C, so that
 * what is left of ipcns's time is Python's.  Built and run by floor.py.
 *
 *     floor PROCESSES NSFILE...
 *
 * The files are split into PROCESSES equal shares, each read by a process
 * of its own at once (as ipcns's helpers do).  Each process prints
 *
 *     share N COUNT SECONDS HOP SYSV MQUEUE SYSCTL
 *
 * the last four being seconds spent in each part.  Descriptors are closed
 * only after the clock stops, as the helpers close theirs after answering.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <mqueue.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH 8 /* namespaces per procfs mount, as _Sysctls.BATCH */

static int *later;
static size_t nlater, maxlater;
static char buf[65536];

static void keep(int fd)
{
	if (fd < 0) {
		perror("floor");
		exit(1);
	}
	if (nlater == maxlater) {
		maxlater = maxlater ? 2 * maxlater : 4096;
		later = realloc(later, maxlater * sizeof *later);
		if (!later)
			exit(1);
	}
	later[nlater++] = fd;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fsmount_new(const char *type)
{
	int fs = syscall(SYS_fsopen, type, FSOPEN_CLOEXEC);
	if (fs < 0 || syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		perror(type);
		exit(1);
	}
	int mnt = syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
	close(fs);
	keep(mnt);
	return mnt;
}

static void read_text(int dir, const char *name)
{
	int fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
	keep(fd);
	ssize_t got;
	while ((got = read(fd, buf, sizeof buf)) >= 2048)
		;
}

static long read_number(int dir, const char *path)
{
	int fd = openat(dir, path, O_RDONLY | O_CLOEXEC);
	keep(fd);
	ssize_t got = read(fd, buf, 64);
	buf[got > 0 ? got : 0] = 0;
	return strtol(buf, NULL, 10);
}

static void queues(int mnt)
{
	struct stat st;
	fstat(mnt, &st);
	if (st.st_size <= 40)
		return; /* 40 bytes plus 20 per queue */
	int dir = openat(mnt, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	keep(dir);
	long got;
	while ((got = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
		for (long at = 0; at < got;) {
			struct dirent64 *d = (struct dirent64 *)(buf + at);
			at += d->d_reclen;
			if (d->d_name[0] == '.')
				continue;
			int q = openat(mnt, d->d_name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
			char text[256];
			struct mq_attr attr;
			fstat(q, &st);
			if (read(q, text, sizeof text) < 0)
				perror("queue");
			syscall(SYS_mq_getsetattr, q, NULL, &attr);
			close(q);
		}
	}
}

static void share(int index, char **paths, int count)
{
	static const char *kernel_files[] = {"shm_rmid_forced", "msg_next_id", "sem_next_id",
					     "shm_next_id"};
	static const char *fs_files[] = {"mqueue/queues_max", "mqueue/msg_max",
					 "mqueue/msgsize_max", "mqueue/msg_default",
					 "mqueue/msgsize_default"};
	double part[4] = {0};
	int sysvipc = open("/proc/sysvipc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int kernel = -1, fs = -1;
	keep(sysvipc);
	double start = now();
	for (int i = 0; i < count; i++) {
		double t0 = now();
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
		struct stat st;
		keep(fd);
		fstat(fd, &st);
		if (setns(fd, CLONE_NEWIPC) < 0) {
			perror(paths[i]);
			exit(1);
		}
		double t1 = now();
		struct msginfo msg;
		struct seminfo sem;
		struct shm_info shm;
		struct shminfo shm_limits;
		int msg_top = msgctl(0, MSG_INFO, (struct msqid_ds *)&msg);
		int sem_top = semctl(0, 0, SEM_INFO, &sem);
		shmctl(0, SHM_INFO, (struct shmid_ds *)&shm);
		struct msqid_ds msq;
		struct semid_ds sma;
		for (int k = 0; msg.msgpool && k <= msg_top; k++)
			msgctl(k, MSG_STAT_ANY, &msq);
		for (int k = 0; sem.semusz && k <= sem_top; k++)
			semctl(k, 0, SEM_STAT_ANY, &sma);
		if (shm.used_ids)
			read_text(sysvipc, "shm");
		double t2 = now();
		queues(fsmount_new("mqueue"));
		double t3 = now();
		shmctl(0, IPC_INFO, (struct shmid_ds *)&shm_limits);
		if (i % BATCH == 0) {
			int root = fsmount_new("proc");
			kernel = openat(root, "sys/kernel", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			keep(kernel);
			fs = openat(root, "sys/fs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			keep(fs);
		}
		for (size_t k = 0; k < sizeof kernel_files / sizeof *kernel_files; k++)
			read_number(kernel, kernel_files[k]);
		for (size_t k = 0; k < sizeof fs_files / sizeof *fs_files; k++)
			read_number(fs, fs_files[k]);
		double t4 = now();
		part[0] += t1 - t0;
		part[1] += t2 - t1;
		part[2] += t3 - t2;
		part[3] += t4 - t3;
	}
	printf("share %d %d %.6f %.6f %.6f %.6f %.6f\n", index, count, now() - start, part[0],
	       part[1], part[2], part[3]);
	fflush(stdout);
	for (size_t k = 0; k < nlater; k++)
		close(later[k]);
	nlater = 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: floor PROCESSES NSFILE...\n");
		return 2;
	}
	int procs = atoi(argv[1]), n = argc - 2;
	if (procs < 1)
		procs = 1;
	for (int p = 0; p < procs; p++) {
		int from = p * n / procs, to = (p + 1) * n / procs;
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			share(p, argv + 2 + from, to - from);
			_exit(0);
		}
	}
	int status, failed = 0;
	while (wait(&status) > 0)
		failed |= !WIFEXITED(status) || WEXITSTATUS(status);
	return failed;
}
