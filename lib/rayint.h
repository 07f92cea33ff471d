/*
 * rayint.h: internals shared by libray and ray-node (not installed): the
 * frame format, the handshake, session paths and a growable byte buffer.
 */
#ifndef RAYINT_H
#define RAYINT_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "ray.h"

#define RAY_HDR_LEN 16
#define RAY_JSON_MAX (4u << 20)
#define RAY_DATA_MAX (256u << 20)
/* The most items any array in one request may hold (refs, sizes, tasks):
 * a node handles a request on its event loop, so this bounds the time one
 * request can hold it; clients split longer lists. */
#define RAY_ITEMS_MAX 65536
/* How many items libray puts in one request (refs, sizes, tasks), and how
 * many bytes of commands: well under RAY_ITEMS_MAX, and under RAY_JSON_MAX
 * with refs of any length.  Longer lists go as several requests. */
#define RAY_BATCH_MAX 16384
#define RAY_BATCH_BYTES (1u << 20)
#define RAY_INLINE_MAX (64u << 10)
#define RAY_MAGIC "RAYTOOL1"
#define RAY_MAGIC_LEN 8
#define RAY_NONCE_LEN 32
#define RAY_MAC_LEN 32
#define RAY_KEY_LEN 32
#define RAY_NODEID_LEN 16
#define RAY_DEFAULT_PORT 6380

/* A growable byte buffer; p is owned by the struct. */
typedef struct rbuf {
	char *p;
	size_t len, cap;
} rbuf;

int rbuf_reserve(rbuf *b, size_t extra);
int rbuf_append(rbuf *b, const void *p, size_t n);
void rbuf_consume(rbuf *b, size_t n);
void rbuf_release(rbuf *b);

/* Frame header: four big-endian u32s. */
typedef struct ray_hdr {
	uint32_t json_len, data_len, req_id, flags;
} ray_hdr;

void ray_hdr_pack(unsigned char out[RAY_HDR_LEN], const ray_hdr *h);
void ray_hdr_unpack(ray_hdr *h, const unsigned char in[RAY_HDR_LEN]);
/* 0 when the header is within limits, else RAY_EUNREACH. */
int ray_hdr_check(const ray_hdr *h, uint32_t json_max, uint32_t data_max);

/* Token and handshake. */
int ray_token_key(const char *path, unsigned char key[RAY_KEY_LEN], ray_err *err);
void ray_auth_mac(unsigned char out[RAY_MAC_LEN], const unsigned char key[RAY_KEY_LEN],
                  char role, const unsigned char ns[RAY_NONCE_LEN],
                  const unsigned char nc[RAY_NONCE_LEN]);
int ray_auth_verify(const unsigned char mac[RAY_MAC_LEN],
                    const unsigned char key[RAY_KEY_LEN], char role,
                    const unsigned char ns[RAY_NONCE_LEN],
                    const unsigned char nc[RAY_NONCE_LEN]);

/* The encrypted transport's records (secure.c): once on, every byte a side
 * sends is sealed into records of at most RAY_REC_MAX plain bytes. */
#define RAY_REC_MAX (1u << 20)
typedef struct ray_sec {
	int on;                          /* 0: bytes pass in the clear */
	int aes;                         /* AES-256-GCM, else ChaCha20-Poly1305 */
	unsigned char tx[32], rx[32];    /* one key each way */
	uint64_t ntx, nrx;               /* records so far each way: the nonces */
} ray_sec;
/* Appends n bytes as records to out; RAY_EUNREACH when out of memory or
 * out of nonces. */
int ray_sec_seal(ray_sec *s, const void *buf, size_t n, rbuf *out);
/* Opens the whole records at the head of in (consumed) onto out;
 * RAY_EUNREACH for one that does not open or is over the limit. */
int ray_sec_open(ray_sec *s, rbuf *in, rbuf *out);
/* The record at the head of buf[0..len): 1 when it is all there (its plain
 * length in *plen, its whole length in *rlen), 0 when more is needed,
 * RAY_EUNREACH when its length is bad.  Opens nothing. */
int ray_sec_next(const ray_sec *s, const char *buf, size_t len, size_t *plen, size_t *rlen);
/* Opens that one record into dst (room for its *plen bytes), the next
 * in order: 0, or RAY_EUNREACH when it does not open. */
int ray_sec_open_one(ray_sec *s, const char *rec, size_t rlen, void *dst);
void ray_sec_wipe(ray_sec *s);
/* Whether this CPU runs libsodium's AES-256-GCM. */
int ray_sec_aes_ok(void);

/* Which transport: RAY_TRANSPORT / --transport words; -1 for a bad one. */
enum { RAY_TRANSPORT_AUTO, RAY_TRANSPORT_PLAIN, RAY_TRANSPORT_ENCRYPTED };
int ray_transport_parse(const char *s);
struct sockaddr;
/* Whether an address is this host's (loopback, or a Unix socket). */
int ray_sockaddr_loopback(const struct sockaddr *sa);
/* Whether a connection with this peer is encrypted under a setting: auto
 * encrypts TCP off the loopback, encrypted all TCP, plain none. */
int ray_transport_secure(int transport, const struct sockaddr *peer);

/* The handshake, free of I/O.  Feed it what arrived; it says how much it
 * used, and leaves in out[0..outlen) what to send (the caller sends it, in
 * the clear, and sets outlen to 0).  A server has its greeting in out from
 * init.  Nothing after the handshake may be parsed before ray_hs_feed
 * returns DONE; then ray_hs_session gives the record layer's keys.
 * secure: a client asks for encryption (1), takes it when the node
 * requires it (0), or refuses it (-1); a server requires it (1) or not. */
enum { RAY_HS_MORE = 0, RAY_HS_DONE = 1, RAY_HS_BADMAGIC = -1, RAY_HS_BADMAC = -2,
       RAY_HS_BADMODE = -3 };
typedef struct ray_hs {
	char role;                      /* 'C' client, 'S' server */
	int step, secure, mode;         /* mode: 0 plain, 1 ChaCha20, 2 AES */
	const unsigned char *key;       /* not owned: must outlive the handshake */
	unsigned char ns[RAY_NONCE_LEN], nc[RAY_NONCE_LEN];
	unsigned char pk[32], sk[32], peer_pk[32];   /* ephemeral X25519 */
	unsigned char sflags;
	unsigned char out[128];
	size_t outlen;
} ray_hs;
void ray_hs_init(ray_hs *h, char role, const unsigned char *key, int secure);
int ray_hs_feed(ray_hs *h, const void *in, size_t len, size_t *used);
/* After DONE: the session's keys into s (s->on when encrypted); the
 * handshake's secret key is wiped either way. */
int ray_hs_session(ray_hs *h, ray_sec *s);

/* A whole frame: the header, req (compact JSON) and dlen bytes of data,
 * copied when data is non-NULL, else only counted for the caller to send
 * next.  A malloc'd buffer of *len bytes, or NULL when over the limits or
 * out of memory. */
char *ray_frame_pack(uint32_t req_id, const cJSON *js, const void *data, size_t dlen,
                     size_t *len);
/* Replies too large for one frame go as several (reply.c): each frame but
 * the last has RAY_FLAG_MORE in its header's flags and only a piece of the
 * reply's largest array; the last has the other members and the data. */
#define RAY_FLAG_MORE 1u
#define RAY_REPLY_CHUNK (1u << 20)
/* The most JSON one merged reply may add up to (a receiver's bound). */
#define RAY_REPLY_MAX (1024u << 20)
/* A reply's frames (several when its JSON is over RAY_JSON_MAX), with dlen
 * bytes of data counted in the last, for the caller to send next.  NULL
 * when out of memory or when no split fits (an item alone over the limit).
 * js is left as it was. */
char *ray_reply_pack(uint32_t req_id, cJSON *js, size_t dlen, size_t *len);
/* Moves a continued frame's members into the reply so far: arrays are
 * appended, other members replaced.  more is left empty; -1 when malformed. */
int ray_reply_merge(cJSON *into, cJSON *more);
typedef struct ray_frame {
	uint32_t req_id, flags;
	cJSON *js;              /* a JSON object, the caller's to delete */
	const char *data;       /* into the parsed buffer */
	size_t dlen;
	size_t total;           /* bytes of the whole frame, once its header is in */
} ray_frame;
/* The frame at the head of buf[0..len): 1 when it is all there (f filled),
 * 0 when more is needed (f->total says how much, once the header is in),
 * RAY_EUNREACH when over the limits or its JSON is not an object. */
int ray_frame_parse(const char *buf, size_t len, ray_frame *f);

/* Session paths (session.c). */
const char *ray_tmpdir(void);
/* RAY_TMPDIR must be a directory of this user's that group and others
 * cannot write to: else RAY_EUSAGE saying why.  create: make it (0700)
 * when missing; otherwise a missing one is fine (no node there). */
int ray_tmpdir_check(int create, ray_err *err);
/* lstat(path) is of type (S_IFDIR, S_IFLNK, S_IFSOCK, S_IFREG), belongs
 * to this user and is not group or world writable; `what` names it in
 * the error (RAY_EUSAGE; RAY_EUNREACH when it cannot be looked at). */
int ray_check_path(const char *path, const char *what, int type, ray_err *err);
/* The session dir of the latest node under RAY_TMPDIR into buf, after
 * checking RAY_TMPDIR, the `latest` link and the directory. */
int ray_latest_session(char *buf, size_t len, ray_err *err);

int64_t ray_now_ms(void);
/* What is left of a timeout that started at t0 (-1: none). */
int64_t ray_time_left(int64_t timeout_ms, int64_t t0);
/* object.c, shared with getout.c: the bytes a get asks for at a time
 * (CHUNK), one get request (reply["objs"] or, when packed is asked and
 * every object is in the reply, reply["sizes"]), an error object's code
 * and message (or 0), part of an object by get_part, and a whole write. */
#define RAY_GET_CHUNK (4u << 20)
int ray_get_req(ray_client *c, size_t n, const char *const *refs, int64_t timeout_ms,
                int want_inline, int restore, cJSON **reply, rbuf *data, ray_err *err);
int ray_obj_error(const cJSON *o, ray_err *err);
int ray_get_part(ray_client *c, const char *ref, uint64_t off, size_t len, rbuf *data,
                 ray_err *err);
int ray_write_full(int fd, const char *buf, size_t n);
/* The n sizes of a packed get reply into sizes, checked to add up to the
 * total bytes it carries (else RAY_EUNREACH: malformed). */
int ray_packed_sizes(const char *p, size_t n, size_t total, size_t *sizes, ray_err *err);
/* Refs as a JSON array of strings; RAY_EUSAGE naming the first malformed one. */
cJSON *ray_refs_array(size_t n, const char *const *refs);
int ray_refs_check(size_t n, const char *const *refs, ray_err *err);

/* job.c: 0 when id is a job id (8 lowercase hex digits), else RAY_EUSAGE
 * with err filled. */
int ray_job_id_check(const char *id, ray_err *err);

/* sys.c: whole reads and writes (retrying EINTR; -1 with errno set),
 * mkdir -p, a small file written at once, rm -rf, CLOCK_REALTIME in ms. */
int ray_write_all(int fd, const void *buf, size_t n);
ssize_t ray_read_full(int fd, void *buf, size_t n);
int ray_mkdir_p(const char *path, mode_t mode);
/* At most len - 1 bytes of a small file (one read: /proc, cgroupfs and
 * the node's own short files), NUL-terminated; bytes read or -1. */
ssize_t ray_read_text(const char *path, char *buf, size_t len);
int ray_write_text(const char *path, mode_t mode, const char *text);
void ray_rm_rf(const char *path);
int64_t ray_wall_ms(void);
/* Opens /dev/null on whichever of fds 0, 1, 2 are closed, so no socket or
 * file the program opens lands there; write-only on 0 and read-only on 1
 * and 2, so reading a closed stdin or writing a closed stdout still fails
 * (EBADF) and the tools can say so. */
void ray_std_fds(void);
/* escape.c: writes s to f with control characters (newline, tab, ESC,
 * DEL...) written as \n, \t, \r or \xHH, so text from users can neither
 * forge a line nor send the terminal an escape sequence. */
void ray_fputs_safe(const char *s, FILE *f);
/* Frees a NULL-terminated vector of strings and the strings. */
void ray_strv_free(char **v);
/* Random lowercase hex of 2*nbytes digits into out (NUL-terminated). */
void ray_random_hex(char *out, size_t nbytes);

/* A size for people, "1.5 GiB" (parse.c); returns buf. */
const char *ray_fmt_size(uint64_t n, char *buf, size_t len);

/* JSON helpers that tolerate a NULL or wrong-typed item. */
const char *rj_str(const cJSON *o, const char *key);
int64_t rj_int(const cJSON *o, const char *key, int64_t dflt);
/* A whole number as a JSON item, for the per-object fields of busy
 * frames (sizes, offsets): cJSON 1.7.15 prints every number with "%1.15g"
 * and reads it back with sscanf to check it, a tenth of a small put's or
 * get's CPU; this one is written once as digits (a raw item). */
cJSON *rj_uint_item(uint64_t v);
void rj_add_uint(cJSON *o, const char *key, uint64_t v);
void rj_add_int(cJSON *o, const char *key, int64_t v);
/* Packed lists (wire.c): one JSON string of words separated by spaces,
 * for the lists of the busiest requests.  ray_packed_count counts the
 * words; ray_packed_word copies the next into buf (NULL: no more, or
 * longer than len - 1); ray_packed_uint reads the next as a whole number
 * (NULL: none, or not one); both return where to go on.  rbuf_add_word
 * appends a word after a space (none before the first); 0 or -1. */
size_t ray_packed_count(const char *s);
const char *ray_packed_word(const char *s, char *buf, size_t len);
const char *ray_packed_uint(const char *s, uint64_t *v);
int rbuf_add_word(rbuf *b, const char *w);
/* Appends v's decimal digits to b, for JSON written as text: 0 or -1. */
int rbuf_add_uint(rbuf *b, uint64_t v);
int rj_bool(const cJSON *o, const char *key);

/* Client request: sends req (+data), waits for the reply with that id.
 * On "ok":false fills err and returns its code.  *reply (caller frees with
 * cJSON_Delete) and rdata (optional; caller releases) receive the reply. */
int ray_call(ray_client *c, cJSON *req, const void *data, size_t dlen,
             int64_t timeout_ms, cJSON **reply, rbuf *rdata, ray_err *err);
/* Pipelined: send now, receive later in the same order. */
int ray_send(ray_client *c, cJSON *req, const void *data, size_t dlen,
             ray_err *err);
int ray_recv(ray_client *c, int64_t timeout_ms, cJSON **reply, rbuf *rdata,
             ray_err *err);
/* The store directory when this client can open the node's files, or NULL. */
const char *ray_client_store(const ray_client *c);
/* Attach the task id from RAY_TASK_ID (a pooled worker: its RAY_WORKER_ID)
 * so a waiting task lends its CPUs. */
void ray_req_add_task(cJSON *req);

/* This host and pid namespace as a string ("" when unknown): two processes
 * with equal ones may signal each other's pids. */
void ray_host_ident(char *buf, size_t len);

/* The JSON of a task's options (tasks and actors share it). */
cJSON *ray_task_opts_json(const ray_task_opts *o);

/* The ref of a streaming task's k-th line: its id (tlen characters, at
 * most RAY_REF_MAX - 8) and %08x of 2+k (lib/stream.c). */
void ray_stream_ref(char ref[RAY_REF_MAX + 1], const char *task, size_t tlen, uint64_t k);

#endif
