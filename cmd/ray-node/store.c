/*
 * store.c: the node's object table.  An object is pending (a task will make
 * it), ready, or an error.  Ready bytes live inline in memory (small puts)
 * or in a sealed read-only file under store/o/ on tmpfs; either way they
 * are "resident" and count against --object-store-memory.  Gets and waits
 * that cannot be answered yet become waiters, registered on each pending
 * object; tasks waiting for arguments register as dependents.
 *
 * Past the capacity, resident objects are spilled least recently used
 * first (an LRU list ordered by last access).  A spill copies the bytes to
 * the spill directory on the libuv thread pool, with a 64-byte header that
 * carries the BLAKE2b-256 of the bytes; only when the copy is complete is
 * the resident copy dropped, and only if nothing has pinned the object
 * meanwhile.  Pinned objects (arguments of pending and running tasks,
 * objects whose path a client was given and has not released, gets being
 * answered) are never spilled.  A get, a get_part or a task that needs a
 * spilled object restores it (again on the thread pool), checking the
 * hash: a mismatch turns the object into an error (exit 4), never into
 * wrong bytes.  The spill file is kept until the object is freed, so an
 * object spilled once is dropped again at no cost.
 *
 * A put whose bytes push the store over capacity is answered only once
 * spills have made room (so a fast writer cannot outrun the spiller), and
 * fails with exit 9 when nothing more can be spilled: every resident object
 * pinned, or the spill directory full.  A task's output always lands; if it
 * overflows, that is counted in ray-store stats.
 *
 * Freed objects (ray-store free, the end of their job) are released once
 * nothing uses them: a pending one when its task ends, a pinned one when
 * the last pin goes.  Releases run from an idle callback, never from under
 * a caller that still holds the object.
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

#define GET_INLINE_BUDGET (128u << 20)
#define SPILL_HDR 64
#define SPILL_MAGIC "RAYSPIL1"
#define IO_BUF (256u << 10)
#define SPILL_BACKOFF_MS 1000
#define RESTORE_RETRY_MS 250
#define HELD_MAX 65536
#define SUM_LEN 32
#define PREFETCH_KEEP_MS 10000

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

static char spill_dir[PATH_MAX];
static obj *lru_head, *lru_tail;
static waiter *room_head, *room_tail;
static uint64_t spilling_bytes;   /* resident bytes whose spill is in flight */
static uint64_t spill_disk_bytes; /* bytes in spill files */
static int nspill_io, nrestore_io;
static uint64_t restoring_bytes;  /* bytes being restored */
static int64_t spill_block_until;
static char spill_why[512];       /* why the last spill failed or was skipped */
static struct {
	uint64_t spills, spilled_bytes, restores, restored_bytes;
	uint64_t spill_failures, lost, refused, overflows;
} st;

static obj **doomed;              /* array owned; objects awaiting release */
static size_t ndoomed, capdoomed;
static uv_idle_t reap_idle;
static obj **retry;               /* array owned; restores to try again */
static size_t nretry, capretry;
static uv_timer_t retry_timer;
static int handles_init;

static void notify(obj *o);
static void store_pressure(void);

static void obj_link(obj *o)
{
	o->prev = N->otail;
	if (N->otail)
		N->otail->next = o;
	else
		N->ohead = o;
	N->otail = o;
}

static void obj_unlink(obj *o)
{
	if (o->prev)
		o->prev->next = o->next;
	else
		N->ohead = o->next;
	if (o->next)
		o->next->prev = o->prev;
	else
		N->otail = o->prev;
}

/* ---- the LRU list of resident ready objects ---- */

static void lru_remove(obj *o)
{
	if (!o->in_lru)
		return;
	if (o->lprev)
		o->lprev->lnext = o->lnext;
	else
		lru_head = o->lnext;
	if (o->lnext)
		o->lnext->lprev = o->lprev;
	else
		lru_tail = o->lprev;
	o->lprev = o->lnext = NULL;
	o->in_lru = 0;
}

static void lru_add(obj *o)
{
	lru_remove(o);
	o->lprev = lru_tail;
	o->lnext = NULL;
	if (lru_tail)
		lru_tail->lnext = o;
	else
		lru_head = o;
	lru_tail = o;
	o->in_lru = 1;
}

obj *store_new(const char *ref)
{
	obj *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	snprintf(o->ref, sizeof(o->ref), "%s", ref);
	o->created_ms = o->last_ms = ray_now_ms();
	if (map_put(&N->objs, o->ref, o)) {
		free(o);
		return NULL;
	}
	obj_link(o);
	return o;
}

obj *store_find_any(const char *ref)
{
	return ref ? map_get(&N->objs, ref) : NULL;
}

obj *store_find(const char *ref)
{
	obj *o = store_find_any(ref);

	return o && !o->doomed ? o : NULL;
}

/* store_find, else a placeholder for a ref another live node owns. */
obj *store_lookup(const char *ref)
{
	obj *o = store_find(ref);

	return o ? o : foreign_obj(ref);
}

int obj_resident(const obj *o)
{
	return o->data || o->in_file;
}

void store_touch(obj *o)
{
	o->last_ms = ray_now_ms();
	if (o->in_lru)
		lru_add(o);
}

static void obj_path(const obj *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s/o/%s", N->store, o->ref);
}

static void spill_path(const obj *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", spill_dir, o->ref);
}

static const char *obj_job(const obj *o)
{
	if (o->job[0])
		return o->job;
	return o->producer ? o->producer->job : "00000000";
}

static const char *fmt_size(uint64_t n, char *buf, size_t len)
{
	if (n >= (1ull << 30))
		snprintf(buf, len, "%.1f GiB", (double)n / (1ull << 30));
	else if (n >= (1ull << 20))
		snprintf(buf, len, "%.1f MiB", (double)n / (1ull << 20));
	else if (n >= 1024)
		snprintf(buf, len, "%.1f KiB", (double)n / 1024);
	else
		snprintf(buf, len, "%llu bytes", (unsigned long long)n);
	return buf;
}

static int write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	while (len) {
		ssize_t w = write(fd, data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			unlink(path);
			return -1;
		}
		data += w;
		len -= (size_t)w;
	}
	return close(fd);
}

/* The path of a ready, resident object's file, writing inline bytes out
 * first.  A spilled object has none until it is restored. */
int store_path(obj *o, char *buf, size_t len)
{
	char tmp[PATH_MAX + 64];

	obj_path(o, buf, len);
	if (o->state == OBJ_READY)
		store_touch(o);
	if (o->in_file)
		return 0;
	if (o->state != OBJ_READY || !o->data)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s/tmp/m-%s", N->store, o->ref);
	if (write_file(tmp, o->data, o->size) || chmod(tmp, 0444) ||
	    rename(tmp, buf)) {
		unlink(tmp);
		return -1;
	}
	o->in_file = 1;
	return 0;
}

static void new_put_ref(char ref[RAY_REF_MAX + 1])
{
	char rnd[17];

	ray_random_hex(rnd, 8);
	snprintf(ref, RAY_REF_MAX + 1, "%s%s00000000", N->id, rnd);
}

static int job_valid(const char *j)
{
	size_t i;

	if (!j || !*j || strlen(j) > RAY_ID_MAX)
		return 0;
	for (i = 0; j[i]; i++)
		if (!((j[i] >= '0' && j[i] <= '9') || (j[i] >= 'a' && j[i] <= 'f')))
			return 0;
	return 1;
}

/* A put's object is ready and resident: it joins the LRU list. */
static void put_landed(obj *o, const char *job)
{
	o->state = OBJ_READY;
	snprintf(o->job, sizeof(o->job), "%s", job ? job : "00000000");
	lru_add(o);
}

static obj *put_inline(const char *data, size_t len, const char *job)
{
	char ref[RAY_REF_MAX + 1];
	obj *o;

	new_put_ref(ref);
	o = store_new(ref);
	if (!o)
		return NULL;
	o->size = len;
	if (len <= RAY_INLINE_MAX) {
		o->data = malloc(len ? len : 1);
		if (!o->data) {
			store_free(o);
			return NULL;
		}
		memcpy(o->data, data, len);
	} else {
		char path[PATH_MAX + 64];
		obj_path(o, path, sizeof(path));
		if (write_file(path, data, len) || chmod(path, 0444)) {
			store_free(o);
			return NULL;
		}
		o->in_file = 1;
	}
	N->store_used += len;
	put_landed(o, job);
	return o;
}

int store_put_inline(const char *data, size_t len, char ref[RAY_REF_MAX + 1])
{
	obj *o = put_inline(data, len, NULL);

	if (!o)
		return RAY_ERESOURCE;
	snprintf(ref, RAY_REF_MAX + 1, "%s", o->ref);
	store_pressure();
	return 0;
}

/* Moves store/tmp/NAME into place as o's sealed file. */
int store_seal_file(const char *tmpname, obj *o, ray_err *err)
{
	char tmp[PATH_MAX + 64], path[PATH_MAX + 64];
	struct stat sb;

	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", N->store, tmpname);
	obj_path(o, path, sizeof(path));
	if (lstat(tmp, &sb) || !S_ISREG(sb.st_mode))
		return ray_seterr(err, RAY_ENOTFOUND, "no staged object '%s'", tmpname);
	if (chmod(tmp, 0444) || rename(tmp, path))
		return ray_seterr(err, RAY_ERESOURCE, "cannot seal object: %s", strerror(errno));
	o->in_file = 1;
	o->size = (uint64_t)sb.st_size;
	N->store_used += o->size;
	return 0;
}

/* ---- releasing freed objects ---- */

static int reapable(const obj *o)
{
	return o->doomed && o->state != OBJ_PENDING && !o->pins && !o->nwait &&
	       !o->ndeps && !o->io && !o->keep;
}

static void on_reap(uv_idle_t *h)
{
	size_t i, kept = 0;

	(void)h;
	for (i = 0; i < ndoomed; i++) {
		obj *o = doomed[i];
		if (reapable(o)) {
			if (o->producer) {
				int k;
				for (k = 0; k < o->producer->num_returns; k++)
					if (o->producer->rets[k] == o)
						o->producer->rets[k] = NULL;
			}
			store_free(o);
		} else {
			doomed[kept++] = o;
		}
	}
	ndoomed = kept;
	uv_idle_stop(&reap_idle);
}

static void kick_reap(void)
{
	if (ndoomed && handles_init && !N->stopping)
		uv_idle_start(&reap_idle, on_reap);
}

void store_release(obj *o)
{
	if (o->doomed)
		return;
	if (ndoomed == capdoomed) {
		size_t nc = capdoomed ? capdoomed * 2 : 64;
		obj **nd = realloc(doomed, nc * sizeof(*nd));
		if (!nd)
			return;
		doomed = nd;
		capdoomed = nc;
	}
	o->doomed = 1;
	doomed[ndoomed++] = o;
	kick_reap();
}

size_t store_free_job(const char *job_id)
{
	obj *o;
	size_t n = 0;

	for (o = N->ohead; o; o = o->next)
		if (!o->doomed && !strcmp(obj_job(o), job_id)) {
			store_release(o);
			n++;
		}
	return n;
}

void store_unpin(obj *o)
{
	if (o->pins > 0)
		o->pins--;
	if (o->pins)
		return;
	if (o->doomed)
		kick_reap();
	else if (N->store_used > N->store_cap)
		store_pressure();
}

/* ---- spilling ---- */

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

/* Copies len bytes from in to out, hashing them on the way, through a
 * small buffer that stays in cache (one pass over the bytes, and no
 * mapping that a truncated file could turn into SIGBUS). */
static int copy_hash(int in, int out, uint64_t len, unsigned char sum[SUM_LEN], int *short_read)
{
	crypto_generichash_state h;
	char *buf = malloc(IO_BUF);
	uint64_t off = 0;

	*short_read = 0;
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	crypto_generichash_init(&h, NULL, 0, SUM_LEN);
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
		crypto_generichash_update(&h, (const unsigned char *)buf, n);
		if (ray_write_all(out, buf, n)) {
			free(buf);
			return -1;
		}
		off += n;
	}
	crypto_generichash_final(&h, sum, SUM_LEN);
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
		crypto_generichash(s->sum, SUM_LEN, (const unsigned char *)s->data, s->size, NULL, 0);
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
	         spill_dir, fmt_size(avail, a, sizeof(a)), fmt_size(need, b, sizeof(b)));
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
static void make_room(void)
{
	obj *o, *next;

	if (N->stopping)
		return;
	for (o = lru_head; o && N->store_used > N->store_cap + spilling_bytes; o = next) {
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

static void spill_done(uv_work_t *w, int status)
{
	sio *s = (sio *)w;
	obj *o = s->o;

	nspill_io--;
	spilling_bytes -= s->size;
	if (!o || N->stopping) {
		if (o) {
			o->io = IO_NONE;
			o->sio = NULL;
		}
		/* Freed meanwhile. */
		if (!s->err)
			unlink(s->dst);
		free(s->data);
		free(s);
		store_pressure();
		return;
	}
	o->io = IO_NONE;
	o->sio = NULL;
	if (status && !s->err)
		s->err = ECANCELED;
	if (s->err) {
		st.spill_failures++;
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
		st.spills++;
		st.spilled_bytes += s->size;
		if (evictable(o) && N->store_used > N->store_cap + spilling_bytes)
			evict(o);
	}
	free(s->data);
	free(s);
	store_pressure();
	kick_reap();
}

static void drop_spill(obj *o)
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
	kick_reap();
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
	if (!o || N->stopping) {
		if (o) {
			o->io = IO_NONE;
			o->sio = NULL;
		}
		if (!s->err)
			unlink(s->dst);
		free(s);
		return;
	}
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
		st.restores++;
		st.restored_bytes += o->size;
		notify(o);
		store_pressure();
	} else if (s->err == SIO_CORRUPT || s->err == SIO_GONE) {
		snprintf(msg, sizeof(msg),
		         "object %s is lost: its spill file '%s' %s; put it again or rerun the task that made it",
		         o->ref, s->src, s->err == SIO_GONE ? "is missing" : "is corrupt (BLAKE2b checksum mismatch)");
		node_log("%s", msg);
		st.lost++;
		drop_spill(o);
		o->state = OBJ_ERROR;
		o->err_code = RAY_ELOST;
		free(o->err_msg);
		o->err_msg = strdup(msg);
		notify(o);
	} else {
		node_log("cannot restore %s from '%s': %s; trying again", o->ref, s->src, strerror(s->err));
		retry_later(o);
	}
	free(s);
	kick_reap();
}

void store_restore(obj *o)
{
	if (o->state != OBJ_READY || obj_resident(o) || o->io || !o->spill || N->stopping)
		return;
	if (io_start(o, IO_RESTORE))
		retry_later(o);
}

/* ---- waiters ---- */

static void hold(conn *c, obj *o);

/* Whether entry o of waiter w is answered. */
static int obj_done(const waiter *w, const obj *o)
{
	if (o->state == OBJ_PENDING)
		return 0;
	if (o->state == OBJ_READY && o->remote && !w->is_wait)
		return 0;  /* its bytes are elsewhere: wait for the pull */
	if (!w->restore || o->state == OBJ_ERROR)
		return 1;
	return obj_resident(o);
}

static int add_ptr(void ***arr, int *n, int *cap, void *p)
{
	if (*n == *cap) {
		int nc = *cap ? *cap * 2 : 4;
		void **na = realloc(*arr, (size_t)nc * sizeof(*na));
		if (!na)
			return -1;
		*arr = na;
		*cap = nc;
	}
	(*arr)[(*n)++] = p;
	return 0;
}

static void waiter_unregister(waiter *w)
{
	size_t i;
	int j;

	for (i = 0; i < w->n; i++) {
		obj *o = w->objs[i];
		if (!o)
			continue;
		for (j = 0; j < o->nwait; j++)
			if (o->waiters[j] == w) {
				o->waiters[j] = o->waiters[--o->nwait];
				break;
			}
	}
}

static void on_waiter_timer_closed(uv_handle_t *h)
{
	waiter *w = h->data;

	free(w->objs);
	free(w->done);
	cJSON_Delete(w->room);
	cJSON_Delete(w->redo_req);
	free(w);
}

static cJSON *obj_desc(obj *o, int want_inline, rbuf *data, conn *c)
{
	cJSON *d = cJSON_CreateObject();
	char path[PATH_MAX + 64];

	store_touch(o);
	if (o->state == OBJ_ERROR) {
		cJSON_AddNumberToObject(d, "code", o->err_code);
		cJSON_AddStringToObject(d, "msg", o->err_msg ? o->err_msg : "failed");
		return d;
	}
	cJSON_AddNumberToObject(d, "size", (double)o->size);
	o->ra_until = 0;
	if (!obj_resident(o)) {
		/* The client asks for it alone, which restores it. */
		cJSON_AddBoolToObject(d, "spilled", 1);
		return d;
	}
	if (o->data) {
		cJSON_AddNumberToObject(d, "off", (double)data->len);
		rbuf_append(data, o->data, o->size);
		return d;
	}
	obj_path(o, path, sizeof(path));
	if (want_inline && data->len + o->size <= GET_INLINE_BUDGET) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		size_t got = 0, start = data->len;
		if (fd >= 0 && !rbuf_reserve(data, o->size)) {
			while (got < o->size) {
				ssize_t r = read(fd, data->p + start + got, o->size - got);
				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0)
					break;
				got += (size_t)r;
			}
		}
		if (fd >= 0)
			close(fd);
		if (got == o->size) {
			data->len = start + got;
			cJSON_AddNumberToObject(d, "off", (double)start);
			return d;
		}
	}
	/* The file must outlive the reply until the client has read it. */
	hold(c, o);
	cJSON_AddStringToObject(d, "path", path);
	return d;
}

static void part_reply(conn *c, uint32_t id, obj *o, int64_t off, int64_t len)
{
	char path[PATH_MAX + 64];
	char *buf;
	ssize_t r = -1;
	int fd;

	store_touch(o);
	if (o->data) {
		conn_reply(c, id, cJSON_CreateObject(), o->data + off, (size_t)len);
		return;
	}
	buf = malloc((size_t)len + 1);
	obj_path(o, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && buf) {
		size_t got = 0;
		while (got < (size_t)len) {
			ssize_t n = pread(fd, buf + got, (size_t)len - got, off + (off_t)got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		r = (ssize_t)got;
	}
	if (fd >= 0)
		close(fd);
	if (r != len) {
		free(buf);
		conn_reply_err(c, id, RAY_ELOST, "cannot read object '%s'", o->ref);
		return;
	}
	conn_reply(c, id, cJSON_CreateObject(), buf, (size_t)len);
	free(buf);
}

static void put_refuse(conn *c, uint32_t id, obj **objs, size_t n);

static void waiter_reply(waiter *w, int timed_out)
{
	cJSON *r, *a;
	rbuf data = { 0 };
	size_t i;

	if (w->room) {
		r = w->room;
		w->room = NULL;
		conn_reply(w->c, w->req_id, r, NULL, 0);
		return;
	}
	if (w->redo) {
		obj *o = w->objs[0];
		if (o->state == OBJ_ERROR)
			conn_reply_err(w->c, w->req_id, o->err_code, "%s", o->err_msg ? o->err_msg : "failed");
		else if (timed_out || !obj_resident(o))
			conn_reply_err(w->c, w->req_id, RAY_ELOST, "cannot restore object '%s'", o->ref);
		else
			w->redo(w->c, w->req_id, w->redo_req);
		return;
	}
	r = cJSON_CreateObject();
	if (w->is_wait) {
		a = cJSON_AddArrayToObject(r, "ready");
		for (i = 0; i < w->n; i++)
			cJSON_AddItemToArray(a, cJSON_CreateBool(w->objs[i] && w->objs[i]->state != OBJ_PENDING));
		conn_reply(w->c, w->req_id, r, NULL, 0);
		return;
	}
	if (timed_out) {
		cJSON_Delete(r);
		conn_reply_err(w->c, w->req_id, RAY_ETIMEOUT, "timed out: %zu of %zu objects ready",
		               w->ready, w->n);
		return;
	}
	a = cJSON_AddArrayToObject(r, "objs");
	for (i = 0; i < w->n; i++)
		cJSON_AddItemToArray(a, obj_desc(w->objs[i], w->want_inline, &data, w->c));
	conn_reply(w->c, w->req_id, r, data.p, data.len);
	rbuf_release(&data);
}

static void waiter_free(waiter *w)
{
	size_t i;

	if (w->restore)
		for (i = 0; i < w->n; i++)
			store_unpin(w->objs[i]);
	if (w->room)
		for (i = 0; i < w->n; i++)
			w->objs[i]->keep--;
	if (w->has_timer) {
		uv_timer_stop(&w->timer);
		uv_close((uv_handle_t *)&w->timer, on_waiter_timer_closed);
	} else {
		on_waiter_timer_closed((uv_handle_t *)&w->timer);
	}
	kick_reap();
}

void waiter_complete(waiter *w, int timed_out)
{
	conn *c = w->c;

	waiter_unregister(w);
	if (w->lender[0])
		task_unlend(w->lender);
	if (c) {
		if (w->cprev)
			w->cprev->cnext = w->cnext;
		else
			c->waiters = w->cnext;
		if (w->cnext)
			w->cnext->cprev = w->cprev;
		waiter_reply(w, timed_out);
		conn_resume(c);
	}
	waiter_free(w);
}

static void on_waiter_timeout(uv_timer_t *t)
{
	waiter_complete(t->data, 1);
}

/* Wakes what waits on o: it became ready or failed, or was restored. */
static void notify(obj *o)
{
	waiter **ws = o->waiters;
	int n = o->nwait, i;
	size_t j;
	task **deps = o->deps;
	int nd = o->ndeps;

	o->waiters = NULL;
	o->nwait = o->capwait = 0;
	o->deps = NULL;
	o->ndeps = o->capdeps = 0;
	for (i = 0; i < n; i++) {
		waiter *w = ws[i];
		int left = 0;
		for (j = 0; j < w->n; j++)
			if (w->objs[j] == o && !w->done[j]) {
				if (obj_done(w, o)) {
					w->done[j] = 1;
					w->ready++;
				} else {
					left = 1;
				}
			}
		if ((w->is_wait && w->ready >= w->k) || w->ready == w->n) {
			waiter_complete(w, 0);
		} else if (left) {
			add_ptr((void ***)&o->waiters, &o->nwait, &o->capwait, w);
		}
	}
	free(ws);
	for (i = 0; i < nd; i++) {
		if (o->state == OBJ_READY && !obj_resident(o)) {
			add_ptr((void ***)&o->deps, &o->ndeps, &o->capdeps, deps[i]);
			continue;
		}
		sched_dep_ready(deps[i], o);
	}
	free(deps);
	if (o->state == OBJ_READY && !obj_resident(o) && (o->nwait || o->ndeps)) {
		/* Its bytes are elsewhere (pull them) or spilled (restore them). */
		if (o->remote)
			fetch_start(o);
		else
			store_restore(o);
	}
}

void store_ready(obj *o)
{
	o->state = OBJ_READY;
	if (!o->job[0])
		snprintf(o->job, sizeof(o->job), "%s", obj_job(o));
	if (obj_resident(o))
		lru_add(o);
	notify(o);
	store_pressure();
	if (o->producer && N->store_used > N->store_cap && !nspill_io) {
		char a[32], b[32];
		st.overflows++;
		node_log("store over capacity: task output %s landed with nothing left to spill (%s of %s)",
		         o->ref, fmt_size(N->store_used, a, sizeof(a)), fmt_size(N->store_cap, b, sizeof(b)));
	}
	kick_reap();
}

void store_fail(obj *o, int code, const char *msg)
{
	if (o->state != OBJ_PENDING)
		return;
	o->state = OBJ_ERROR;
	o->err_code = code;
	free(o->err_msg);
	o->err_msg = strdup(msg);
	notify(o);
	kick_reap();
}

void store_free(obj *o)
{
	char path[PATH_MAX + 64];
	conn *c;
	int i;

	if (o->sio)
		((sio *)o->sio)->o = NULL;  /* its completion cleans up */
	for (c = N->conns; o->pins && c; c = c->next)
		for (i = c->nheld - 1; i >= 0; i--)
			if (c->held[i] == o) {
				memmove(c->held + i, c->held + i + 1, (size_t)(c->nheld - i - 1) * sizeof(*c->held));
				c->nheld--;
				o->pins--;
			}

	if (o->in_file) {
		obj_path(o, path, sizeof(path));
		unlink(path);
	}
	if (obj_resident(o) && o->state == OBJ_READY)
		N->store_used -= N->store_used >= o->size ? o->size : N->store_used;
	drop_spill(o);
	lru_remove(o);
	map_del(&N->objs, o->ref);
	obj_unlink(o);
	free(o->waiters);
	free(o->deps);
	free(o->err_msg);
	free(o->data);
	free(o);
}

void store_drop_all(void)
{
	while (N->ohead)
		store_free(N->ohead);
	map_release(&N->objs);
	free(doomed);
	doomed = NULL;
	ndoomed = capdoomed = 0;
	free(retry);
	retry = NULL;
	nretry = capretry = 0;
}

int obj_add_dep(obj *o, task *t)
{
	return add_ptr((void ***)&o->deps, &o->ndeps, &o->capdeps, t);
}

/* ---- paths held by clients ---- */

static void hold(conn *c, obj *o)
{
	if (!c || c->closing)
		return;
	if (c->nheld == HELD_MAX) {
		obj *old = c->held[0];
		memmove(c->held, c->held + 1, (size_t)(c->nheld - 1) * sizeof(*c->held));
		c->nheld--;
		store_unpin(old);
	}
	if (add_ptr((void ***)&c->held, &c->nheld, &c->capheld, o))
		return;
	o->pins++;
}

static void unhold(conn *c, const char *ref)
{
	int i;

	for (i = c->nheld - 1; i >= 0; i--)
		if (!ref || !strcmp(c->held[i]->ref, ref)) {
			obj *o = c->held[i];
			memmove(c->held + i, c->held + i + 1, (size_t)(c->nheld - i - 1) * sizeof(*c->held));
			c->nheld--;
			store_unpin(o);
			if (ref)
				return;
		}
}

void store_conn_closed(conn *c)
{
	unhold(c, NULL);
	free(c->held);
	c->held = NULL;
	c->nheld = c->capheld = 0;
}

void op_release(conn *c, uint32_t id, cJSON *req)
{
	const cJSON *refs = cJSON_GetObjectItemCaseSensitive(req, "refs"), *r;

	if (!refs) {
		unhold(c, NULL);
	} else if (cJSON_IsArray(refs)) {
		cJSON_ArrayForEach(r, refs)
			if (cJSON_IsString(r))
				unhold(c, r->valuestring);
	} else {
		conn_reply_err(c, id, RAY_EUSAGE, "release wants a list of refs");
		return;
	}
	conn_reply(c, id, cJSON_CreateObject(), NULL, 0);
}

/* ---- requests ---- */

/* Resolves a JSON array of refs to objects; fails on bad or unknown ones. */
static obj **resolve_refs(conn *c, uint32_t id, const cJSON *refs, size_t *n)
{
	const cJSON *r;
	obj **v;
	size_t i = 0, cnt = (size_t)cJSON_GetArraySize(refs);

	if (!cJSON_IsArray(refs) || cnt > 10000000) {
		conn_reply_err(c, id, RAY_EUSAGE, "want a list of refs");
		return NULL;
	}
	v = calloc(cnt ? cnt : 1, sizeof(*v));
	if (!v) {
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return NULL;
	}
	cJSON_ArrayForEach(r, refs) {
		if (!cJSON_IsString(r) || !ray_ref_valid(r->valuestring)) {
			conn_reply_err(c, id, RAY_EUSAGE, "malformed ref");
			free(v);
			return NULL;
		}
		v[i] = store_lookup(r->valuestring);
		if (!v[i]) {
			conn_reply_err(c, id, RAY_ENOTFOUND, "unknown ref '%s': it was freed, or never existed",
			               r->valuestring);
			free(v);
			return NULL;
		}
		i++;
	}
	*n = cnt;
	return v;
}

static waiter *waiter_new(conn *c, uint32_t id, obj **objs, size_t n)
{
	waiter *w = calloc(1, sizeof(*w));

	if (!w || !(w->done = calloc(n ? n : 1, 1))) {
		free(w);
		return NULL;
	}
	w->c = c;
	w->req_id = id;
	w->objs = objs;
	w->n = w->k = n;
	w->timer.data = w;
	return w;
}

static void waiter_attach(conn *c, waiter *w)
{
	w->cnext = c->waiters;
	if (c->waiters)
		c->waiters->cprev = w;
	c->waiters = w;
	c->busy = 1;
}

/* Registers w on each object it still needs and returns 1, or answers it
 * (and frees it) at once and returns 0. */
static int waiter_start(conn *c, waiter *w, int64_t timeout)
{
	size_t i;

	if (w->restore)
		for (i = 0; i < w->n; i++)
			w->objs[i]->pins++;
	for (i = 0; i < w->n; i++)
		if (obj_done(w, w->objs[i])) {
			w->done[i] = 1;
			w->ready++;
		}
	if (w->ready >= w->k || timeout == 0) {
		waiter_reply(w, w->ready < w->k);
		waiter_free(w);
		return 0;
	}
	for (i = 0; i < w->n; i++) {
		obj *o = w->objs[i];
		int j, seen = 0;
		if (w->done[i])
			continue;
		for (j = 0; j < o->nwait; j++)
			if (o->waiters[j] == w)
				seen = 1;
		if (!seen)
			add_ptr((void ***)&o->waiters, &o->nwait, &o->capwait, w);
		if (o->remote)
			fetch_start(o);
		else
			store_restore(o);
	}
	waiter_attach(c, w);
	if (timeout > 0) {
		uv_timer_init(N->loop, &w->timer);
		w->has_timer = 1;
		uv_timer_start(&w->timer, on_waiter_timeout, (uint64_t)timeout, 0);
	}
	return 1;
}

/* A reader that walks a list of objects says which spilled ones it wants
 * next: they are restored in the background, in parallel, within a budget
 * of half the store (at least one object). */
static void prefetch(const cJSON *refs)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, refs) {
		obj *o = cJSON_IsString(r) ? store_find(r->valuestring) : NULL;
		if (!o || o->state != OBJ_READY || obj_resident(o) || o->io || !o->spill)
			continue;
		if (restoring_bytes && restoring_bytes + o->size > N->store_cap / 2)
			break;
		store_touch(o);
		o->ra_until = ray_now_ms() + PREFETCH_KEEP_MS;
		store_restore(o);
	}
}

static void start_waiter(conn *c, uint32_t id, cJSON *req, int is_wait)
{
	waiter *w;
	size_t n = 0;
	obj **objs = resolve_refs(c, id, cJSON_GetObjectItemCaseSensitive(req, "refs"), &n);
	int64_t timeout = rj_int(req, "timeout", -1);
	const char *tid = rj_str(req, "task_id");
	const cJSON *rel = cJSON_GetObjectItemCaseSensitive(req, "release"), *r;

	cJSON_ArrayForEach(r, rel)
		if (cJSON_IsString(r))
			unhold(c, r->valuestring);
	if (!objs)
		return;
	prefetch(cJSON_GetObjectItemCaseSensitive(req, "prefetch"));
	w = waiter_new(c, id, objs, n);
	if (!w) {
		free(objs);
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return;
	}
	w->is_wait = is_wait;
	w->want_inline = rj_bool(req, "inline");
	w->restore = !is_wait && rj_bool(req, "restore");
	w->k = is_wait ? (size_t)rj_int(req, "n", (int64_t)n) : n;
	if (w->k > n)
		w->k = n;
	if (waiter_start(c, w, timeout) && tid && task_find(tid)) {
		snprintf(w->lender, sizeof(w->lender), "%s", tid);
		task_lend(task_find(tid));
	}
}

void op_get(conn *c, uint32_t id, cJSON *req)
{
	start_waiter(c, id, req, 0);
}

void op_wait(conn *c, uint32_t id, cJSON *req)
{
	start_waiter(c, id, req, 1);
}

/* Whether a put may be answered: the store fits, or will once the spills
 * under way finish, with no more than a quarter of it in flight (so the
 * next put's copy overlaps those spills, and tmpfs use stays bounded). */
static int put_fits(void)
{
	if (N->store_used <= N->store_cap)
		return 1;
	return N->store_used <= N->store_cap + spilling_bytes && spilling_bytes <= N->store_cap / 4;
}

/* Answers puts that wait for room, in order, once they can be. */
static void room_process(void)
{
	waiter **pp = &room_head, *w;

	room_tail = NULL;
	while ((w = *pp)) {
		size_t i;
		int resident = 0;
		for (i = 0; i < w->n; i++)
			resident |= obj_resident(w->objs[i]);
		if (put_fits() || !resident || !w->c) {
			*pp = w->qnext;
			if (!w->c)
				for (i = 0; i < w->n; i++)
					store_release(w->objs[i]);
			waiter_complete(w, 0);
		} else if (!nspill_io) {
			*pp = w->qnext;
			if (w->c) {
				if (w->cprev)
					w->cprev->cnext = w->cnext;
				else
					w->c->waiters = w->cnext;
				if (w->cnext)
					w->cnext->cprev = w->cprev;
				put_refuse(w->c, w->req_id, w->objs, w->n);
				conn_resume(w->c);
			}
			waiter_free(w);
		} else {
			room_tail = w;
			pp = &w->qnext;
		}
	}
}

static void store_pressure(void)
{
	static int busy;

	if (busy)
		return;
	busy = 1;
	make_room();
	room_process();
	busy = 0;
}

static void put_refuse(conn *c, uint32_t id, obj **objs, size_t n)
{
	uint64_t pinned = 0, want = 0, used = N->store_used;
	obj *o;
	size_t i;
	char a[32], b[32], p[32], s[32];

	for (i = 0; i < n; i++) {
		want += objs[i]->size;
		if (obj_resident(objs[i]))
			used -= used >= objs[i]->size ? objs[i]->size : used;
		store_release(objs[i]);
	}
	for (o = lru_head; o; o = o->lnext)
		if (o->pins || o->nwait)
			pinned += o->size;
	st.refused++;
	conn_reply_err(c, id, RAY_ERESOURCE,
	               "object store full: cannot store %s; %s of %s (--object-store-memory) in use, "
	               "%s of it pinned by tasks and readers, and nothing more can be spilled%s%s",
	               fmt_size(want, s, sizeof(s)), fmt_size(used, a, sizeof(a)),
	               fmt_size(N->store_cap, b, sizeof(b)), fmt_size(pinned, p, sizeof(p)),
	               spill_why[0] ? ": " : "", spill_why);
}

/* Answers a put once its objects fit (see the top of this file). */
static void put_finish(conn *c, uint32_t id, cJSON *reply, obj **objs, size_t n)
{
	waiter *w;
	size_t i;
	int resident = 0;

	store_pressure();
	for (i = 0; i < n; i++)
		resident |= obj_resident(objs[i]);
	if (put_fits() || !resident) {
		conn_reply(c, id, reply, NULL, 0);
		free(objs);
		return;
	}
	if (!nspill_io) {
		cJSON_Delete(reply);
		put_refuse(c, id, objs, n);
		free(objs);
		return;
	}
	w = waiter_new(c, id, objs, n);
	if (!w) {
		conn_reply(c, id, reply, NULL, 0);
		free(objs);
		return;
	}
	w->room = reply;
	for (i = 0; i < n; i++)
		objs[i]->keep++;
	if (room_tail)
		room_tail->qnext = w;
	else
		room_head = w;
	room_tail = w;
	waiter_attach(c, w);
}

static const char *req_job(conn *c, uint32_t id, cJSON *req, int *bad)
{
	const char *job = rj_str(req, "job_id");

	*bad = 0;
	if (job && !job_valid(job)) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad job id '%.80s'", job);
		*bad = 1;
	}
	return job;
}

void op_put(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen)
{
	const cJSON *sizes = cJSON_GetObjectItemCaseSensitive(req, "sizes"), *s;
	cJSON *r, *refs;
	size_t off = 0, n = 0, i;
	obj **objs;
	const char *job;
	int bad;

	if (!cJSON_IsArray(sizes)) {
		conn_reply_err(c, id, RAY_EUSAGE, "put wants sizes");
		return;
	}
	cJSON_ArrayForEach(s, sizes) {
		if (!cJSON_IsNumber(s) || s->valuedouble < 0 || s->valuedouble > (double)(dlen - off)) {
			conn_reply_err(c, id, RAY_EUSAGE, "put sizes do not match its data");
			return;
		}
		off += (size_t)s->valuedouble;
		n++;
	}
	if (off != dlen) {
		conn_reply_err(c, id, RAY_EUSAGE, "put sizes do not match its data");
		return;
	}
	job = req_job(c, id, req, &bad);
	if (bad)
		return;
	objs = calloc(n ? n : 1, sizeof(*objs));
	if (!objs) {
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return;
	}
	r = cJSON_CreateObject();
	refs = cJSON_AddArrayToObject(r, "refs");
	off = 0;
	i = 0;
	cJSON_ArrayForEach(s, sizes) {
		size_t len = (size_t)s->valuedouble;
		obj *o = put_inline(data + off, len, job);
		if (!o) {
			char b[32];
			cJSON_Delete(r);
			while (i)
				store_release(objs[--i]);
			free(objs);
			conn_reply_err(c, id, RAY_ERESOURCE, "object store full: cannot store %s: %s",
			               fmt_size(len, b, sizeof(b)), strerror(errno));
			return;
		}
		objs[i++] = o;
		cJSON_AddItemToArray(refs, cJSON_CreateString(o->ref));
		off += len;
	}
	put_finish(c, id, r, objs, n);
}

static int hex_name(const char *s)
{
	size_t i;

	if (!s || !*s)
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')) || i > 64)
			return 0;
	return 1;
}

/* A staged file becomes a put object; the reply waits for room. */
static void seal_put(conn *c, uint32_t id, const char *name, const char *job)
{
	char ref[RAY_REF_MAX + 1];
	ray_err err;
	obj *o, **objs;
	cJSON *r;

	new_put_ref(ref);
	o = store_new(ref);
	objs = malloc(sizeof(*objs));
	if (!o || !objs) {
		if (o)
			store_free(o);
		free(objs);
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return;
	}
	if (store_seal_file(name, o, &err)) {
		store_free(o);
		free(objs);
		conn_reply_err(c, id, err.code, "%s", err.msg);
		return;
	}
	put_landed(o, job);
	objs[0] = o;
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "ref", ref);
	put_finish(c, id, r, objs, 1);
}

void op_seal(conn *c, uint32_t id, cJSON *req)
{
	const char *name = rj_str(req, "tmp"), *job;
	int bad;

	if (!hex_name(name)) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad staged object name");
		return;
	}
	job = req_job(c, id, req, &bad);
	if (!bad)
		seal_put(c, id, name, job);
}

static void put_part_abort(conn *c)
{
	if (c->put_fd >= 0)
		close(c->put_fd);
	c->put_fd = -1;
	if (c->put_path) {
		unlink(c->put_path);
		free(c->put_path);
		c->put_path = NULL;
	}
}

void op_put_part(conn *c, uint32_t id, cJSON *req, const char *data, size_t dlen)
{
	const char *handle = rj_str(req, "handle"), *job;
	char path[PATH_MAX + 64], name[33];
	int bad;
	cJSON *r;

	job = req_job(c, id, req, &bad);
	if (bad)
		return;
	if (!handle) {
		if (c->put_path) {
			conn_reply_err(c, id, RAY_EUSAGE, "a streamed put is already in progress");
			return;
		}
		ray_random_hex(name, 16);
		snprintf(path, sizeof(path), "%s/tmp/%s", N->store, name);
		c->put_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (c->put_fd < 0 || !(c->put_path = strdup(path))) {
			conn_reply_err(c, id, RAY_ERESOURCE, "cannot create object: %s", strerror(errno));
			put_part_abort(c);
			return;
		}
		snprintf(c->put_ref, sizeof(c->put_ref), "%s", name);
	} else if (!c->put_path || strcmp(handle, c->put_ref)) {
		conn_reply_err(c, id, RAY_ENOTFOUND, "no streamed put '%.64s'", handle);
		return;
	}
	while (dlen) {
		ssize_t w = write(c->put_fd, data, dlen);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			conn_reply_err(c, id, RAY_ERESOURCE, "object store full: %s", strerror(errno));
			put_part_abort(c);
			return;
		}
		data += w;
		dlen -= (size_t)w;
	}
	if (rj_bool(req, "last")) {
		close(c->put_fd);
		c->put_fd = -1;
		free(c->put_path);
		c->put_path = NULL;
		seal_put(c, id, c->put_ref, job);
		return;
	}
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "handle", c->put_ref);
	conn_reply(c, id, r, NULL, 0);
}

void op_get_part(conn *c, uint32_t id, cJSON *req)
{
	obj *o = store_find(rj_str(req, "ref"));
	int64_t off = rj_int(req, "off", -1), len = rj_int(req, "len", -1);

	if (o && o->state == OBJ_ERROR) {
		conn_reply_err(c, id, o->err_code, "%s", o->err_msg ? o->err_msg : "failed");
		return;
	}
	if (!o || o->state != OBJ_READY) {
		conn_reply_err(c, id, RAY_ENOTFOUND, "unknown or unready ref");
		return;
	}
	if (off < 0 || len < 0 || len > (1 << 24) || (uint64_t)off > o->size ||
	    (uint64_t)len > o->size - (uint64_t)off) {
		conn_reply_err(c, id, RAY_EUSAGE, "bad range");
		return;
	}
	if (!store_need_resident(c, id, req, o, op_get_part))
		part_reply(c, id, o, off, len);
}

int store_need_resident(conn *c, uint32_t id, cJSON *req, obj *o,
                        void (*fn)(conn *c, uint32_t id, cJSON *req))
{
	obj **objs;
	waiter *w;

	if (obj_resident(o) || o->state != OBJ_READY)
		return 0;
	objs = malloc(sizeof(*objs));
	w = objs ? waiter_new(c, id, objs, 1) : NULL;
	if (!w || !(w->redo_req = cJSON_Duplicate(req, 1))) {
		if (w)
			waiter_free(w);
		else
			free(objs);
		conn_reply_err(c, id, RAY_ERESOURCE, "out of memory");
		return 1;
	}
	objs[0] = o;
	w->redo = fn;
	w->restore = 1;
	waiter_start(c, w, -1);
	return 1;
}

void op_free(conn *c, uint32_t id, cJSON *req)
{
	const cJSON *refs = cJSON_GetObjectItemCaseSensitive(req, "refs"), *r;
	const char *unknown = NULL;
	int n = 0;
	cJSON *rep;

	if (!cJSON_IsArray(refs)) {
		conn_reply_err(c, id, RAY_EUSAGE, "free wants refs");
		return;
	}
	cJSON_ArrayForEach(r, refs) {
		obj *o = cJSON_IsString(r) ? store_find(r->valuestring) : NULL;
		if (!o) {
			if (!unknown)
				unknown = cJSON_IsString(r) ? r->valuestring : "?";
			continue;
		}
		store_release(o);
		n++;
	}
	if (unknown) {
		conn_reply_err(c, id, RAY_ENOTFOUND, "unknown ref '%.80s': it was freed, or never existed%s",
		               unknown, n ? " (the others were freed)" : "");
		return;
	}
	rep = cJSON_CreateObject();
	cJSON_AddNumberToObject(rep, "freed", n);
	conn_reply(c, id, rep, NULL, 0);
}

static const char *obj_state_name(int s)
{
	return s == OBJ_PENDING ? "PENDING" : s == OBJ_READY ? "READY" : "ERROR";
}

static const char *obj_where(const obj *o)
{
	if (o->state != OBJ_READY)
		return "";
	if (o->data)
		return "memory";
	if (o->in_file)
		return "shm";
	return o->remote ? "remote" : "spilled";
}

cJSON *obj_json(obj *o)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "ref", o->ref);
	cJSON_AddStringToObject(j, "object_id", o->ref);
	cJSON_AddStringToObject(j, "state", obj_state_name(o->state));
	cJSON_AddNumberToObject(j, "size", (double)o->size);
	cJSON_AddStringToObject(j, "node_id", N->id);
	cJSON_AddStringToObject(j, "where", obj_where(o));
	cJSON_AddBoolToObject(j, "pinned", o->pins > 0 || o->nwait > 0);
	cJSON_AddBoolToObject(j, "spill_copy", o->spill);
	cJSON_AddStringToObject(j, "job_id", obj_job(o));
	if (o->io)
		cJSON_AddStringToObject(j, "io", o->io == IO_SPILL ? "spilling" : "restoring");
	if (o->producer)
		cJSON_AddStringToObject(j, "task_id", o->producer->id);
	return j;
}

void op_store_ls(conn *c, uint32_t id, cJSON *req)
{
	cJSON *r = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(r, "objects");
	obj *o;

	(void)req;
	for (o = N->ohead; o; o = o->next)
		if (o->state == OBJ_READY && !o->doomed)
			cJSON_AddItemToArray(a, obj_json(o));
	conn_reply(c, id, r, NULL, 0);
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

void op_store_stats(conn *c, uint32_t id, cJSON *req)
{
	cJSON *r = cJSON_CreateObject();
	uint64_t mem = 0, shm = 0, spilled = 0, pinned = 0;
	uint64_t nm = 0, ns = 0, nsp = 0, npin = 0, np = 0, ne = 0, nd = 0;
	obj *o;

	(void)req;
	for (o = N->ohead; o; o = o->next) {
		if (o->doomed) {
			nd++;
			continue;
		}
		if (o->state == OBJ_PENDING) {
			np++;
			continue;
		}
		if (o->state != OBJ_READY) {
			ne++;
			continue;
		}
		if (o->data) {
			mem += o->size;
			nm++;
		} else if (o->in_file) {
			shm += o->size;
			ns++;
		} else if (!o->remote) {
			spilled += o->size;
			nsp++;
		}
		if (obj_resident(o) && (o->pins || o->nwait)) {
			pinned += o->size;
			npin++;
		}
	}
	cJSON_AddStringToObject(r, "node_id", N->id);
	cJSON_AddNumberToObject(r, "capacity_bytes", (double)N->store_cap);
	cJSON_AddNumberToObject(r, "used_bytes", (double)N->store_used);
	cJSON_AddNumberToObject(r, "objects", (double)(nm + ns + nsp));
	cJSON_AddNumberToObject(r, "in_memory_bytes", (double)(mem + shm));
	cJSON_AddNumberToObject(r, "in_memory_objects", (double)(nm + ns));
	cJSON_AddNumberToObject(r, "inline_bytes", (double)mem);
	cJSON_AddNumberToObject(r, "shm_bytes", (double)shm);
	cJSON_AddNumberToObject(r, "spilled_bytes", (double)spilled);
	cJSON_AddNumberToObject(r, "spilled_objects", (double)nsp);
	cJSON_AddNumberToObject(r, "pinned_bytes", (double)pinned);
	cJSON_AddNumberToObject(r, "pinned_objects", (double)npin);
	cJSON_AddNumberToObject(r, "pending_objects", (double)np);
	cJSON_AddNumberToObject(r, "error_objects", (double)ne);
	cJSON_AddNumberToObject(r, "freeing_objects", (double)nd);
	cJSON_AddNumberToObject(r, "over_capacity_bytes",
	                        (double)(N->store_used > N->store_cap ? N->store_used - N->store_cap : 0));
	cJSON_AddStringToObject(r, "spill_dir", spill_dir);
	cJSON_AddNumberToObject(r, "spill_dir_bytes", (double)spill_disk_bytes);
	cJSON_AddNumberToObject(r, "spilling_bytes", (double)spilling_bytes);
	cJSON_AddNumberToObject(r, "restoring_objects", (double)nrestore_io);
	cJSON_AddNumberToObject(r, "spills_total", (double)st.spills);
	cJSON_AddNumberToObject(r, "spilled_bytes_total", (double)st.spilled_bytes);
	cJSON_AddNumberToObject(r, "restores_total", (double)st.restores);
	cJSON_AddNumberToObject(r, "restored_bytes_total", (double)st.restored_bytes);
	cJSON_AddNumberToObject(r, "spill_failures", (double)st.spill_failures);
	cJSON_AddNumberToObject(r, "lost_objects", (double)st.lost);
	cJSON_AddNumberToObject(r, "puts_refused", (double)st.refused);
	cJSON_AddNumberToObject(r, "overflow_events", (double)st.overflows);
	transfer_stats_json(r);
	conn_reply(c, id, r, NULL, 0);
}

/* Gives a pending object its bytes (an actor's answer) and marks it ready. */
int store_fill(obj *o, const char *data, size_t len)
{
	if (o->state != OBJ_PENDING)
		return 0;
	if (len <= RAY_INLINE_MAX) {
		o->data = malloc(len ? len : 1);
		if (!o->data)
			return RAY_ERESOURCE;
		memcpy(o->data, data, len);
	} else {
		char path[PATH_MAX + 64];
		obj_path(o, path, sizeof(path));
		if (write_file(path, data, len) || chmod(path, 0444))
			return RAY_ERESOURCE;
		o->in_file = 1;
	}
	o->size = len;
	N->store_used += len;
	store_ready(o);
	return 0;
}

int store_init(const char *dir, ray_err *err)
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
	uv_idle_init(N->loop, &reap_idle);
	uv_timer_init(N->loop, &retry_timer);
	handles_init = 1;
	return 0;
}

/* Removes the spill files and the spill directory (on the way out). */
void store_shutdown(void)
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
