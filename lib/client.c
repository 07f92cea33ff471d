/*
 * client.c: a connection to a ray-node.  Resolves the address (argument,
 * RAY_ADDRESS, or the latest session under RAY_TMPDIR), runs the mutual
 * handshake before anything else, then exchanges frames with blocking I/O
 * bounded by one deadline per call.  Replies come in request order, so
 * pipelining is just sending several requests before reading.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "rayint.h"

struct ray_client {
	int fd;
	uint32_t next_id;
	rbuf in;                 /* unread bytes from the socket, in the clear */
	rbuf raw;                /* unopened records, when encrypted */
	ray_sec sec;
	char node_id[RAY_ID_MAX + 1];
	char store[PATH_MAX];    /* node's store dir if we can open it, else "" */
	char address[PATH_MAX];  /* for messages */
	int spin_miss, spin_skip; /* spin_recv's record of late replies */
	unsigned replies;        /* waited for so far, up to SPIN_AFTER */
};

static int wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int r, tmo;

	for (;;) {
		tmo = -1;
		if (deadline >= 0) {
			int64_t left = deadline - ray_now_ms();
			if (left <= 0)
				return RAY_ETIMEOUT;
			tmo = left > INT_MAX ? INT_MAX : (int)left;
		}
		r = poll(&p, 1, tmo);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return RAY_EUNREACH;
		if (r == 0)
			return RAY_ETIMEOUT;
		return 0;
	}
}

static int send_all(ray_client *c, const void *p, size_t n, ray_err *err)
{
	const char *s = p;

	while (n) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(c->fd, POLLOUT, -1))
				return ray_seterr(err, RAY_EUNREACH, "lost connection to '%s'", c->address);
			continue;
		}
		if (w <= 0)
			return ray_seterr(err, RAY_EUNREACH, "lost connection to '%s': %s",
			                  c->address, strerror(errno));
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Sends n bytes, sealed into records when the link is encrypted (a record
 * at a time, so a large put never doubles in memory). */
static int write_all(ray_client *c, const void *p, size_t n, ray_err *err)
{
	const char *s = p;
	rbuf rec = { 0 };
	int rc = 0;

	if (!c->sec.on)
		return send_all(c, p, n, err);
	while (n && !rc) {
		size_t chunk = n < RAY_REC_MAX ? n : RAY_REC_MAX;
		rec.len = 0;
		if (ray_sec_seal(&c->sec, s, chunk, &rec))
			rc = ray_seterr(err, RAY_EUNREACH, "out of memory");
		else
			rc = send_all(c, rec.p, rec.len, err);
		s += chunk;
		n -= chunk;
	}
	rbuf_release(&rec);
	return rc;
}

/* Sends a frame's head and its data in one sendmsg on a plain link (two
 * sends let the node wake for the head alone and again for the data); an
 * encrypted link seals a small frame into one record the same way. */
static int write_frame(ray_client *c, const char *head, size_t len, const void *data, size_t dlen,
                       ray_err *err)
{
	struct iovec iov[2] = { { (void *)head, len }, { (void *)data, dlen } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = dlen ? 2 : 1 };
	int rc;

	if (c->sec.on) {
		rbuf one = { 0 };
		if (len + dlen > RAY_REC_MAX || !dlen) {
			rc = write_all(c, head, len, err);
			return !rc && dlen ? write_all(c, data, dlen, err) : rc;
		}
		if (rbuf_append(&one, head, len) || rbuf_append(&one, data, dlen))
			rc = ray_seterr(err, RAY_EUNREACH, "out of memory");
		else
			rc = write_all(c, one.p, one.len, err);
		rbuf_release(&one);
		return rc;
	}
	while (m.msg_iovlen) {
		ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* The rest goes the ordinary way, waiting for room. */
			rc = send_all(c, m.msg_iov[0].iov_base, m.msg_iov[0].iov_len, err);
			return !rc && m.msg_iovlen == 2 ? send_all(c, m.msg_iov[1].iov_base, m.msg_iov[1].iov_len, err) : rc;
		}
		if (w <= 0)
			return ray_seterr(err, RAY_EUNREACH, "lost connection to '%s': %s", c->address,
			                  strerror(errno));
		while (m.msg_iovlen && (size_t)w >= m.msg_iov[0].iov_len) {
			w -= (ssize_t)m.msg_iov[0].iov_len;
			m.msg_iov++;
			m.msg_iovlen--;
		}
		if (m.msg_iovlen) {
			m.msg_iov[0].iov_base = (char *)m.msg_iov[0].iov_base + w;
			m.msg_iov[0].iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* How long a client polls for a reply before it sleeps (RAY_SPIN_US; 0:
 * never).  A reply that comes within it saves the reader being put to
 * sleep and woken (on a virtual machine the wake-up of an idle CPU is most
 * of a small round trip).  Adaptive: after SPIN_MISSES replies in a row
 * came later than that (a busy machine, a slow request, a remote node),
 * it sleeps at once for the next SPIN_REST replies.  Only a connection that
 * has waited for SPIN_AFTER replies spins: a command that asks once or
 * twice and exits gains nothing from it, and many of them at once (xargs)
 * would take the CPU the node needs to answer. */
#define SPIN_US_DEFAULT 50
#define SPIN_MISSES 4
#define SPIN_REST 64
#define SPIN_AFTER 16

static int spin_us(void)
{
	static int us = -1;

	if (us < 0) {
		const char *e = getenv("RAY_SPIN_US");
		us = e && *e ? atoi(e) : SPIN_US_DEFAULT;
		if (us < 0 || us > 10000)
			us = SPIN_US_DEFAULT;
	}
	return us;
}

/* recv without sleeping for up to spin_us(): as recv, or -1 with EAGAIN. */
static ssize_t spin_recv(ray_client *c, char *p, size_t len)
{
	int64_t t0 = 0;
	ssize_t r;
	unsigned i;

	if (c->replies < SPIN_AFTER)
		c->replies++;
	if (!spin_us() || c->spin_skip || c->replies < SPIN_AFTER) {
		c->spin_skip -= c->spin_skip > 0;
		errno = EAGAIN;
		return -1;
	}
	for (i = 0;; i++) {
		r = recv(c->fd, p, len, MSG_DONTWAIT);
		if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
			c->spin_miss = 0;
			return r;
		}
		if ((i & 7) == 7) {
			struct timespec ts;
			int64_t now;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
			if (!t0)
				t0 = now;
			else if (now - t0 >= spin_us())
				break;
		}
	}
	if (++c->spin_miss >= SPIN_MISSES) {
		c->spin_miss = 0;
		c->spin_skip = SPIN_REST;
	}
	errno = EAGAIN;
	return -1;
}

/* Reads until c->in holds at least n bytes.  With no deadline a read
 * blocks in recv itself: a round trip is then one send and one recv,
 * where recv-EAGAIN-poll-recv cost three calls for every reply. */
static int fill(ray_client *c, size_t n, int64_t deadline, ray_err *err)
{
	while (c->in.len < n) {
		rbuf *b = c->sec.on ? &c->raw : &c->in;
		ssize_t r;
		size_t want = n - c->in.len < 65536 ? 65536 : n - c->in.len;
		int w;

		if (rbuf_reserve(b, want))
			return ray_seterr(err, RAY_EUNREACH, "out of memory");
		r = spin_recv(c, b->p + b->len, b->cap - b->len);
		if (r < 0 && errno == EAGAIN)
			r = recv(c->fd, b->p + b->len, b->cap - b->len, deadline < 0 ? 0 : MSG_DONTWAIT);
		if (r > 0) {
			b->len += (size_t)r;
			if (c->sec.on && ray_sec_open(&c->sec, &c->raw, &c->in))
				return ray_seterr(err, RAY_EUNREACH,
				                  "the connection to '%s' was tampered with: a record did not open",
				                  c->address);
			continue;
		}
		if (r == 0)
			return ray_seterr(err, RAY_EUNREACH, "connection to '%s' closed by the node",
			                  c->address);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return ray_seterr(err, RAY_EUNREACH, "lost connection to '%s': %s",
			                  c->address, strerror(errno));
		w = wait_fd(c->fd, POLLIN, deadline);
		if (w == RAY_ETIMEOUT)
			return ray_seterr(err, RAY_ETIMEOUT, "timed out waiting for '%s'", c->address);
		if (w)
			return ray_seterr(err, RAY_EUNREACH, "lost connection to '%s'", c->address);
	}
	return 0;
}

static int dial_unix(const char *path, ray_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return ray_seterr(err, RAY_EUSAGE, "socket path '%s' is too long", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ray_seterr(err, RAY_EUNREACH, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return ray_seterr(err, RAY_EUNREACH,
		                  "cannot reach cluster at '%s': %s; is a node running? (ray-node start)",
		                  path, strerror(e));
	}
	return fd;
}

static int dial_tcp(const char *addr, ray_err *err)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, e = 0, one = 1, gai;
	size_t hl;

	if (!colon || colon == addr || !colon[1])
		return ray_seterr(err, RAY_EUSAGE, "bad address '%s': want HOST:PORT or a socket path", addr);
	hl = (size_t)(colon - addr);
	if (hl >= sizeof(host))
		return ray_seterr(err, RAY_EUSAGE, "bad address '%s'", addr);
	memcpy(host, addr, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	gai = getaddrinfo(host, colon + 1, &hints, &res);
	if (gai)
		return ray_seterr(err, RAY_EUNREACH, "cannot reach cluster at '%s': %s",
		                  addr, gai_strerror(gai));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return ray_seterr(err, RAY_EUNREACH,
		                  "cannot reach cluster at '%s': %s; is a node running there?",
		                  addr, strerror(e));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Whether to ask for encryption: RAY_TRANSPORT, else by where the node is
 * (1 off this host; 0 on it, taking encryption only if the node asks). */
static int want_secure(ray_client *c, ray_err *err)
{
	const char *env = getenv("RAY_TRANSPORT");
	int t = ray_transport_parse(env);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (t < 0)
		return ray_seterr(err, RAY_EUSAGE, "bad RAY_TRANSPORT '%s': want plain or encrypted", env);
	if (t == RAY_TRANSPORT_PLAIN)
		return -1;
	if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) || ss.ss_family == AF_UNIX)
		return 0;
	return t == RAY_TRANSPORT_ENCRYPTED || !ray_sockaddr_loopback((struct sockaddr *)&ss);
}

static int handshake(ray_client *c, const unsigned char key[RAY_KEY_LEN], ray_err *err)
{
	int64_t deadline = ray_now_ms() + 10000;
	ray_hs hs;
	size_t used;
	int rc, st, secure = want_secure(c, err);

	if (secure < -1)
		return secure;
	ray_hs_init(&hs, 'C', key, secure);
	for (;;) {
		st = ray_hs_feed(&hs, c->in.p, c->in.len, &used);
		rbuf_consume(&c->in, used);
		if (hs.outlen && (rc = write_all(c, hs.out, hs.outlen, err)))
			return rc;
		hs.outlen = 0;
		if (st == RAY_HS_DONE) {
			if (ray_hs_session(&hs, &c->sec))
				break;
			/* What came after the handshake is records already. */
			if (c->sec.on && (rbuf_append(&c->raw, c->in.p, c->in.len) ||
			                  (c->in.len = 0, ray_sec_open(&c->sec, &c->raw, &c->in))))
				return ray_seterr(err, RAY_EUNREACH,
				                  "the connection to '%s' was tampered with: a record did not open",
				                  c->address);
			return 0;
		}
		if (st == RAY_HS_BADMAGIC)
			return ray_seterr(err, RAY_EUNREACH, "'%s' is not a ray-node", c->address);
		if (st == RAY_HS_BADMODE)
			return ray_seterr(err, RAY_EUNREACH,
			                  "the node at '%s' requires an encrypted transport; "
			                  "unset RAY_TRANSPORT=plain", c->address);
		if (st == RAY_HS_BADMAC)
			break;
		if ((rc = fill(c, c->in.len + 1, deadline, err))) {
			if (hs.step == 0)
				return rc == RAY_ETIMEOUT ? ray_seterr(err, RAY_EUNREACH,
				                  "no handshake from '%s': not a ray-node?", c->address) : rc;
			break;
		}
	}
	return ray_seterr(err, RAY_EUNREACH,
	                  "authentication refused by '%s': check RAY_TOKEN_FILE", c->address);
}

int ray_connect(ray_client **out, const char *address, const char *token_file,
                ray_err *err)
{
	char session[PATH_MAX], path[PATH_MAX + 16], tok[PATH_MAX + 16];
	unsigned char key[RAY_KEY_LEN];
	ray_client *c;
	cJSON *hello = NULL;
	const char *store;
	int rc, have_session = 0;

	*out = NULL;
	if (!address || !*address)
		address = getenv("RAY_ADDRESS");
	if (!token_file || !*token_file)
		token_file = getenv("RAY_TOKEN_FILE");
	if (!address || !*address || !token_file || !*token_file) {
		if ((rc = ray_latest_session(session, sizeof(session), err)))
			return rc;
		have_session = 1;
	}
	if (!address || !*address) {
		snprintf(path, sizeof(path), "%s/node.sock", session);
		if ((rc = ray_check_path(path, "the node's socket", S_IFSOCK, err)))
			return rc;
		address = path;
	}
	if (!token_file || !*token_file) {
		snprintf(tok, sizeof(tok), "%s/token", session);
		/* A file of ours, or our link to the --token-file a node
		 * was started with. */
		if (ray_check_path(tok, "the session's token", S_IFLNK, NULL) &&
		    (rc = ray_check_path(tok, "the session's token", S_IFREG, err)))
			return rc;
		token_file = tok;
	}
	(void)have_session;
	if ((rc = ray_token_key(token_file, key, err)))
		return rc;
	c = calloc(1, sizeof(*c));
	if (!c)
		return ray_seterr(err, RAY_EUNREACH, "out of memory");
	snprintf(c->address, sizeof(c->address), "%s", address);
	c->next_id = 1;
	c->fd = strchr(address, '/') ? dial_unix(address, err) : dial_tcp(address, err);
	if (c->fd < 0) {
		rc = c->fd;
		free(c);
		return rc;
	}
	if ((rc = handshake(c, key, err)) ||
	    (rc = ray_recv(c, 10000, &hello, NULL, err))) {
		sodium_memzero(key, sizeof(key));
		ray_client_free(c);
		return rc;
	}
	sodium_memzero(key, sizeof(key));
	snprintf(c->node_id, sizeof(c->node_id), "%s", rj_str(hello, "node_id") ? rj_str(hello, "node_id") : "");
	store = rj_str(hello, "store");
	if (store) {
		struct stat st;
		if (stat(store, &st) == 0 &&
		    (uint64_t)st.st_ino == (uint64_t)rj_int(hello, "store_ino", -1) &&
		    (uint64_t)st.st_dev == (uint64_t)rj_int(hello, "store_dev", -1) &&
		    access(store, W_OK | X_OK) == 0)
			snprintf(c->store, sizeof(c->store), "%s", store);
	}
	cJSON_Delete(hello);
	*out = c;
	return 0;
}

void ray_client_free(ray_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	rbuf_release(&c->in);
	rbuf_release(&c->raw);
	ray_sec_wipe(&c->sec);
	free(c);
}

const char *ray_client_node_id(const ray_client *c)
{
	return c->node_id;
}

const char *ray_client_store(const ray_client *c)
{
	return c->store[0] ? c->store : NULL;
}

int ray_send(ray_client *c, cJSON *req, const void *data, size_t dlen, ray_err *err)
{
	size_t len;
	char *buf;
	int rc;

	if (dlen > RAY_DATA_MAX)
		return ray_seterr(err, RAY_EUSAGE, "request too large (%zu bytes)", dlen);
	/* The data goes straight from the caller's buffer: puts are large. */
	buf = ray_frame_pack(c->next_id++, req, NULL, dlen, &len);
	if (!buf)
		return ray_seterr(err, RAY_EUSAGE, "request too large, or out of memory");
	rc = write_frame(c, buf, len, data, dlen, err);
	free(buf);
	return rc;
}

int ray_recv(ray_client *c, int64_t timeout_ms, cJSON **reply, rbuf *rdata, ray_err *err)
{
	int64_t deadline = timeout_ms < 0 ? -1 : ray_now_ms() + timeout_ms;
	ray_frame f;
	cJSON *js = NULL;
	uint64_t total = 0;
	uint32_t id = 0;
	int rc, more;

	*reply = NULL;
	if (rdata)
		rdata->len = 0;
	/* A reply may come in several frames (reply.c): merged here. */
	do {
		while ((rc = ray_frame_parse(c->in.p, c->in.len, &f)) == 0)
			if ((rc = fill(c, f.total > c->in.len ? f.total : RAY_HDR_LEN, deadline, err))) {
				cJSON_Delete(js);
				return rc;
			}
		if (rc < 0 || (js && f.req_id != id) || (total += f.total) > RAY_REPLY_MAX) {
			cJSON_Delete(js);
			cJSON_Delete(f.js);
			return ray_seterr(err, RAY_EUNREACH, "malformed reply from '%s'", c->address);
		}
		if (rdata && rbuf_append(rdata, f.data, f.dlen)) {
			cJSON_Delete(js);
			cJSON_Delete(f.js);
			return ray_seterr(err, RAY_EUNREACH, "out of memory");
		}
		id = f.req_id;
		more = (f.flags & RAY_FLAG_MORE) != 0;
		rbuf_consume(&c->in, f.total);
		if (!js) {
			js = f.js;
		} else {
			rc = ray_reply_merge(js, f.js);
			cJSON_Delete(f.js);
			if (rc) {
				cJSON_Delete(js);
				return ray_seterr(err, RAY_EUNREACH, "malformed reply from '%s'", c->address);
			}
		}
	} while (more);
	if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(js, "ok"))) {
		int code = (int)rj_int(js, "code", RAY_EUNREACH);
		const char *m = rj_str(js, "msg");
		if (code >= 0 || code < RAY_ENOTFOUND)
			code = RAY_EFAILED;
		ray_seterr(err, code, "%s", m ? m : "request failed");
		*reply = js;
		return code;
	}
	*reply = js;
	return 0;
}

int ray_call(ray_client *c, cJSON *req, const void *data, size_t dlen,
             int64_t timeout_ms, cJSON **reply, rbuf *rdata, ray_err *err)
{
	cJSON *r = NULL;
	int rc;

	if (reply)
		*reply = NULL;
	if ((rc = ray_send(c, req, data, dlen, err)))
		return rc;
	/* The node enforces the timeout itself; ours only guards a stuck node. */
	rc = ray_recv(c, timeout_ms < 0 ? -1 : timeout_ms + 5000, &r, rdata, err);
	if (reply)
		*reply = r;
	else
		cJSON_Delete(r);
	return rc;
}

int ray_request_json(ray_client *c, const char *request, int64_t timeout_ms,
                     char **reply, ray_err *err)
{
	cJSON *req = cJSON_Parse(request), *r = NULL;
	int rc;

	*reply = NULL;
	if (!req || !cJSON_IsObject(req)) {
		cJSON_Delete(req);
		return ray_seterr(err, RAY_EUSAGE, "request is not a JSON object");
	}
	rc = ray_call(c, req, NULL, 0, timeout_ms, &r, NULL, err);
	cJSON_Delete(req);
	if (r && !rc)
		*reply = cJSON_PrintUnformatted(r);
	cJSON_Delete(r);
	return rc;
}

void ray_req_add_task(cJSON *req)
{
	/* A pooled worker lends the CPUs of the task it serves. */
	const char *t = getenv("RAY_TASK_ID") ? getenv("RAY_TASK_ID") : getenv("RAY_WORKER_ID");

	if (t && *t)
		cJSON_AddStringToObject(req, "task_id", t);
}

int ray_call_raw(ray_client *c, cJSON *req, char **data, size_t *len, ray_err *err)
{
	rbuf b = { 0 };
	int rc = ray_call(c, req, NULL, 0, 30000, NULL, &b, err);

	*data = NULL;
	*len = 0;
	if (rc) {
		rbuf_release(&b);
		return rc;
	}
	*data = b.p ? b.p : calloc(1, 1);
	*len = b.len;
	return 0;
}
