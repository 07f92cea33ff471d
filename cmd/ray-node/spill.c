/*
 * spill.c: spilling and restoring.  Past the capacity, resident objects are
 * spilled least recently used first.  A spill copies the bytes to the spill
 * directory on the libuv thread pool, with a 64-byte header that carries
 * an XXH64 sum of the bytes; only when the copy is complete is the
 * resident copy dropped, and only if nothing has pinned the object
 * meanwhile.  Pinned objects are never spilled.  A get, a get_part or a
 * task that needs a spilled object restores it (again on the thread pool),
 * checking the sum: a mismatch turns the object into an error (exit 4),
 * never into wrong bytes.  The spill file is kept until the object is
 * freed, so an object spilled once is dropped again at no cost.
 *
 * The copies run on the thread pool so the event loop never waits on a
 * disk; a failed spill blocks further ones for a moment, and a failed
 * restore is tried again later, so a full or flaky spill disk slows the
 * node down but never wedges it.
 *
 * Why XXH64 and not BLAKE2b: the sum guards against a disk that returns
 * other bytes than it was given, not against an attacker who can write
 * the spill directory (they could rewrite the header too).  BLAKE2b ran
 * at about 600 MiB/s a core, twice over every spilled byte, and held a
 * spill of 1 GiB through a small store to 0.37x of cp out and back;
 * XXH64 runs at several GiB/s, as for object pulls (transfer.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <sodium.h>

#include "node.h"
#include "spill.h"
#include "store.h"
#include "xxh64.h"

#define SPILL_HDR RAY_SPILL_HDR
#define SPILL_MAGIC RAY_SPILL_MAGIC
#define IO_BUF RAY_SUM_BLOCK
#define SPILL_BACKOFF_MS 1000
#define RESTORE_RETRY_MS 250
#define SUM_LEN 32

/* A spill or a restore on the thread pool. */
typedef struct sio {
	uv_work_t w;
	obj *o;                   /* not owned; held by o->io */
	int kind;                 /* IO_SPILL or IO_RESTORE */
	uint64_t size;
	char *data;               /* owned; inline bytes to spill, or NULL */
	char src[PATH_MAX + 64], dst[PATH_MAX + 64];
	unsigned char sum[SUM_LEN]; /* spill: computed; restore: expected */
	int err;                  /* 0, an errno, or SIO_CORRUPT / SIO_GONE */
} sio;

#define SIO_CORRUPT (-1)
#define SIO_GONE (-2)

char spill_dir[PATH_MAX];
uint64_t spilling_bytes;          /* resident bytes whose spill is in flight */
uint64_t spill_disk_bytes;        /* bytes in spill files */
int nspill_io, nrestore_io;
uint64_t restoring_bytes;         /* bytes being restored */
static int64_t spill_block_until;
char spill_why[512];              /* why the last spill failed or was skipped */

static obj **retry;               /* array owned; restores to try again */
static size_t nretry, capretry;
static uv_timer_t retry_timer;

static void spill_path(const obj *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", spill_dir, o->ref);
}

static void put_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The sum of a spill (ray_sum_block over IO_BUF blocks), so one pass over
 * a small buffer computes it whether the bytes come from memory or a
 * file.  Written big-endian in the first 8 of the SUM_LEN bytes, the rest
 * zero. */
static void sum_out(uint64_t h, unsigned char sum[SUM_LEN])
{
	memset(sum, 0, SUM_LEN);
	put_be64(sum, h);
}

static void sum_mem(const char *p, uint64_t len, unsigned char sum[SUM_LEN])
{
	uint64_t off = 0, h = 0;

	while (off < len) {
		size_t n = len - off < IO_BUF ? (size_t)(len - off) : IO_BUF;
		h = ray_sum_block(h, p + off, n, off);
		off += n;
	}
	sum_out(h, sum);
}

/* Copies len bytes from in to out, summing them on the way, through a
 * small buffer that stays in cache (one pass over the bytes, and no
 * mapping that a truncated file could turn into SIGBUS). */
static int copy_hash(int in, int out, uint64_t len, unsigned char sum[SUM_LEN], int *short_read)
{
	char *buf = malloc(IO_BUF);
	uint64_t off = 0, h = 0;

	*short_read = 0;
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	while (off < len) {
		size_t n = len - off < IO_BUF ? (size_t)(len - off) : IO_BUF;
		ssize_t r = ray_read_full(in, buf, n);
		if (r != (ssize_t)n) {
			*short_read = r >= 0;
			if (r >= 0)
				errno = EIO;
			free(buf);
			return -1;
		}
		h = ray_sum_block(h, buf, n, off);
		if (ray_write_all(out, buf, n)) {
			free(buf);
			return -1;
		}
		off += n;
	}
	sum_out(h, sum);
	free(buf);
	return 0;
}

/* Thread pool: a 64-byte header, then the bytes (inline, or the sealed
 * file), hashed on the way; the header gets the hash last. */
static void spill_work(uv_work_t *w)
{
	sio *s = (sio *)w;
	unsigned char hdr[SPILL_HDR];
	struct stat sb;
	int in = -1, out, shrt;

	out = open(s->dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		s->err = errno;
		return;
	}
	memset(hdr, 0, sizeof(hdr));
	if (ray_write_all(out, (const char *)hdr, SPILL_HDR)) {
		s->err = errno;
		goto out;
	}
	if (s->data) {
		sum_mem(s->data, s->size, s->sum);
		if (ray_write_all(out, s->data, s->size))
			s->err = errno;
	} else {
		in = open(s->src, O_RDONLY | O_CLOEXEC);
		if (in < 0 || fstat(in, &sb) || (uint64_t)sb.st_size != s->size)
			s->err = in < 0 ? errno : EIO;
		else if (copy_hash(in, out, s->size, s->sum, &shrt))
			s->err = errno;
	}
	if (s->err)
		goto out;
	memcpy(hdr, SPILL_MAGIC, 8);
	put_be64(hdr + 8, s->size);
	memcpy(hdr + 16, s->sum, SUM_LEN);
	if (pwrite(out, hdr, SPILL_HDR, 0) != SPILL_HDR)
		s->err = errno ? errno : EIO;
out:
	if (close(out) && !s->err)
		s->err = errno;
	if (in >= 0)
		close(in);
	if (s->err)
		unlink(s->dst);
}

/* Thread pool: the spill file back into a staged store file, checking the
 * header and the hash of every byte against what the spill recorded. */
static void restore_work(uv_work_t *w)
{
	sio *s = (sio *)w;
	unsigned char hdr[SPILL_HDR], sum[SUM_LEN];
	struct stat sb;
	int in, out = -1, shrt;

	in = open(s->src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		s->err = errno == ENOENT ? SIO_GONE : errno;
		return;
	}
	if (fstat(in, &sb) || (uint64_t)sb.st_size != s->size + SPILL_HDR ||
	    ray_read_full(in, (char *)hdr, SPILL_HDR) != SPILL_HDR || memcmp(hdr, SPILL_MAGIC, 8) ||
	    get_be64(hdr + 8) != s->size || sodium_memcmp(hdr + 16, s->sum, SUM_LEN)) {
		s->err = SIO_CORRUPT;
		goto out;
	}
	out = open(s->dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		s->err = errno;
		goto out;
	}
	if (copy_hash(in, out, s->size, sum, &shrt))
		s->err = shrt ? SIO_CORRUPT : errno;
	else if (sodium_memcmp(sum, s->sum, SUM_LEN))
		s->err = SIO_CORRUPT;
	else if (fchmod(out, 0444))
		s->err = errno;
out:
	if (out >= 0 && close(out) && !s->err)
		s->err = errno;
	close(in);
	if (s->err && out >= 0)
		unlink(s->dst);
}

int spill_file(const obj *o, char *path, size_t len, uint64_t *sum)
{
	if (!o->spill || o->io == IO_SPILL)
		return -1;
	spill_path(o, path, len);
	*sum = get_be64(o->sum);
	return 0;
}

static int evictable(const obj *o)
{
	return o->state == OBJ_READY && obj_resident(o) && !o->pins && !o->io &&
	       !o->nwait && !o->doomed && (!o->ra_until || o->ra_until < ray_now_ms());
}

/* Drops the resident copy of an object that has a complete spill file. */
static void evict(obj *o)
{
	char path[PATH_MAX + 64];

	if (o->in_file) {
		obj_path(o, path, sizeof(path));
		unlink(path);
		o->in_file = 0;
	}
	free(o->data);
	o->data = NULL;
	if (N->store_used >= o->size)
		N->store_used -= o->size;
	else
		N->store_used = 0;
	lru_remove(o);
}

/* Whether the spill directory has room for size more bytes. */
static int spill_fits(uint64_t size)
{
	struct statvfs sv;
	uint64_t avail, need = size + SPILL_HDR + spilling_bytes + (64u << 10);
	char a[32], b[32];

	if (statvfs(spill_dir, &sv))
		return 1;  /* let the write tell */
	avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	if (avail >= need)
		return 1;
	snprintf(spill_why, sizeof(spill_why), "the spill directory '%s' is full (%s free, %s needed)",
	         spill_dir, ray_fmt_size(avail, a, sizeof(a)), ray_fmt_size(need, b, sizeof(b)));
	return 0;
}

static void spill_done(uv_work_t *w, int status);
static void restore_done(uv_work_t *w, int status);

static int io_start(obj *o, int kind)
{
	sio *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -1;
	s->o = o;
	s->kind = kind;
	s->size = o->size;
	if (kind == IO_SPILL) {
		if (o->data) {
			s->data = malloc(o->size ? o->size : 1);
			if (!s->data) {
				free(s);
				return -1;
			}
			memcpy(s->data, o->data, o->size);
		} else {
			obj_path(o, s->src, sizeof(s->src));
		}
		spill_path(o, s->dst, sizeof(s->dst));
	} else {
		spill_path(o, s->src, sizeof(s->src));
		snprintf(s->dst, sizeof(s->dst), "%s/tmp/r-%s", N->store, o->ref);
		memcpy(s->sum, o->sum, SUM_LEN);
	}
	rc = uv_queue_work(N->loop, &s->w, kind == IO_SPILL ? spill_work : restore_work,
	                   kind == IO_SPILL ? spill_done : restore_done);
	if (rc) {
		free(s->data);
		free(s);
		return -1;
	}
	o->io = kind;
	o->sio = s;
	if (kind == IO_SPILL) {
		nspill_io++;
		spilling_bytes += o->size;
	} else {
		nrestore_io++;
		restoring_bytes += o->size;
	}
	return 0;
}

/* Spills least recently used objects until the resident bytes fit. */
void make_room(void)
{
	obj *o, *next;

	if (N->stopping)
		return;
	for (o = lru_oldest(); o && N->store_used > N->store_cap + spilling_bytes; o = next) {
		next = o->lnext;
		if (!evictable(o))
			continue;
		if (o->spill) {
			evict(o);
			continue;
		}
		if (ray_now_ms() < spill_block_until || !spill_fits(o->size))
			continue;
		io_start(o, IO_SPILL);
	}
}

/* A spill or restore whose object was freed meanwhile, or that ends while
 * the node stops: its copy is removed and s freed; returns 1 if so. */
static int io_orphaned(sio *s)
{
	obj *o = s->o;

	if (o && !N->stopping)
		return 0;
	if (o) {
		o->io = IO_NONE;
		o->sio = NULL;
	}
	if (!s->err)
		unlink(s->dst);
	free(s->data);
	free(s);
	return 1;
}

static void spill_done(uv_work_t *w, int status)
{
	sio *s = (sio *)w;
	obj *o = s->o;

	nspill_io--;
	spilling_bytes -= s->size;
	if (io_orphaned(s)) {
		store_room(NULL);
		return;
	}
	o->io = IO_NONE;
	o->sio = NULL;
	if (status && !s->err)
		s->err = ECANCELED;
	if (s->err) {
		store_st.spill_failures++;
		snprintf(spill_why, sizeof(spill_why), "cannot write to the spill directory '%s': %s",
		         spill_dir, strerror(s->err));
		if (ray_now_ms() >= spill_block_until)
			node_log("spilling %s: %s", o->ref, spill_why);
		spill_block_until = ray_now_ms() + SPILL_BACKOFF_MS;
	} else {
		spill_why[0] = '\0';
		o->spill = 1;
		memcpy(o->sum, s->sum, SUM_LEN);
		spill_disk_bytes += s->size;
		store_st.spills++;
		store_st.spilled_bytes += s->size;
		if (evictable(o) && N->store_used > N->store_cap + spilling_bytes)
			evict(o);
	}
	free(s->data);
	free(s);
	store_room(NULL);
	store_kick_reap();
}

void drop_spill(obj *o)
{
	char path[PATH_MAX + 64];

	if (!o->spill)
		return;
	spill_path(o, path, sizeof(path));
	unlink(path);
	o->spill = 0;
	spill_disk_bytes -= spill_disk_bytes >= o->size ? o->size : spill_disk_bytes;
	spill_block_until = 0;
}

static void on_retry(uv_timer_t *t)
{
	obj **v = retry;
	size_t n = nretry, i;

	(void)t;
	retry = NULL;
	nretry = capretry = 0;
	for (i = 0; i < n; i++) {
		obj *o = v[i];
		o->keep--;
		if ((o->nwait || o->ndeps) && o->state == OBJ_READY && !obj_resident(o))
			store_restore(o);
	}
	free(v);
	store_kick_reap();
}

static void retry_later(obj *o)
{
	if (nretry == capretry) {
		size_t nc = capretry ? capretry * 2 : 16;
		obj **nv = realloc(retry, nc * sizeof(*nv));
		if (!nv)
			return;
		retry = nv;
		capretry = nc;
	}
	o->keep++;
	retry[nretry++] = o;
	if (!uv_is_active((uv_handle_t *)&retry_timer))
		uv_timer_start(&retry_timer, on_retry, RESTORE_RETRY_MS, 0);
}

static void restore_done(uv_work_t *w, int status)
{
	sio *s = (sio *)w;
	obj *o = s->o;
	char path[PATH_MAX + 64], msg[PATH_MAX + 256];

	nrestore_io--;
	restoring_bytes -= s->size;
	if (io_orphaned(s))
		return;
	o->io = IO_NONE;
	o->sio = NULL;
	if (status && !s->err)
		s->err = ECANCELED;
	obj_path(o, path, sizeof(path));
	if (!s->err && rename(s->dst, path)) {
		s->err = errno;
		unlink(s->dst);
	}
	if (!s->err) {
		o->in_file = 1;
		N->store_used += o->size;
		store_touch(o);
		lru_add(o);
		store_st.restores++;
		store_st.restored_bytes += o->size;
		store_changed(o);
		store_room(NULL);
	} else if (s->err == SIO_CORRUPT || s->err == SIO_GONE) {
		snprintf(msg, sizeof(msg),
		         "object %s is lost: its spill file '%s' %s; put it again or rerun the task that made it",
		         o->ref, s->src, s->err == SIO_GONE ? "is missing" : "is corrupt (checksum mismatch)");
		node_log("%s", msg);
		store_st.lost++;
		drop_spill(o);
		o->state = OBJ_ERROR;
		o->err_code = RAY_ELOST;
		free(o->err_msg);
		o->err_msg = strdup(msg);
		store_changed(o);
	} else {
		node_log("cannot restore %s from '%s': %s; trying again", o->ref, s->src, strerror(s->err));
		retry_later(o);
	}
	free(s);
	store_kick_reap();
}

void store_restore(obj *o)
{
	if (o->state != OBJ_READY || obj_resident(o) || o->io || !o->spill || N->stopping)
		return;
	if (io_start(o, IO_RESTORE))
		retry_later(o);
}

uint64_t store_spilled_bytes(void)
{
	obj *o;
	uint64_t n = 0;

	for (o = N->ohead; o; o = o->next)
		if (o->state == OBJ_READY && !obj_resident(o) && !o->remote)
			n += o->size;
	return n;
}

/* o is being freed: a spill or restore in flight cleans up on completion. */
void spill_detach(obj *o)
{
	if (o->sio)
		((sio *)o->sio)->o = NULL;
}

void spill_drop_retries(void)
{
	free(retry);
	retry = NULL;
	nretry = capretry = 0;
}

int spill_init(const char *dir, ray_err *err)
{
	if (dir && *dir) {
		if (ray_mkdir_p(dir, 0700))
			return ray_seterr(err, RAY_EUSAGE, "cannot create spill directory '%s': %s", dir, strerror(errno));
		snprintf(spill_dir, sizeof(spill_dir), "%s/ray-%s", dir, N->id);
	} else {
		snprintf(spill_dir, sizeof(spill_dir), "%s/spill", N->session);
	}
	if (ray_mkdir_p(spill_dir, 0700) || access(spill_dir, W_OK | X_OK))
		return ray_seterr(err, RAY_EUSAGE, "cannot use spill directory '%s': %s", spill_dir, strerror(errno));
	uv_timer_init(N->loop, &retry_timer);
	return 0;
}

/* Removes the spill files and the spill directory (on the way out). */
void spill_shutdown(void)
{
	DIR *d;
	struct dirent *e;
	char path[PATH_MAX + 300];

	if (!spill_dir[0] || !(d = opendir(spill_dir)))
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", spill_dir, e->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(spill_dir);
}

/* Stops o's I/O and drops its spill file: o is being freed. */
void spill_forget(obj *o)
{
	spill_detach(o);
	drop_spill(o);
}

/* A task's output landed: say so when it overflows what can be spilled. */
void spill_landed(obj *o)
{
	if (o && o->producer && N->store_used > N->store_cap && !nspill_io) {
		char a[32], b[32];
		store_st.overflows++;
		node_log("store over capacity: task output %s landed with nothing left to spill (%s of %s)",
		         o->ref, ray_fmt_size(N->store_used, a, sizeof(a)), ray_fmt_size(N->store_cap, b, sizeof(b)));
	}
}
