/* proto.h: the three actor wire protocols, as pure functions over buffers. */
#ifndef PROTO_H
#define PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "rayint.h"

enum { P_LINE, P_TAGGED, P_FRAME };

/* One answer found at the head of a buffer; data points into that buffer. */
typedef struct proto_answer {
	uint32_t id;        /* the call answered (tagged, frame); 0 for line */
	int status;         /* 0 ok, 1 the method failed; frame: the raw status
	                     * byte, so anything above 1 is the caller's protocol
	                     * error (after it has checked the id) */
	const char *data;   /* ok: the result (text: with its LF); failed: the
	                     * message (text: without the '!' and the LF) */
	size_t len;
} proto_answer;

/* "line", "tagged" or "frame". */
const char *proto_name(int protocol);
/* The protocol named s (NULL: line), or -1. */
int proto_parse_name(const char *s);

/*
 * Finds the first answer in buf[0..len).  Returns the bytes it takes (> 0)
 * with *ans filled, 0 when buf holds no whole answer yet, or -1 when buf
 * breaks the protocol, with *why set.  *scanned carries, across calls for
 * one growing buffer, how many bytes at its head hold no LF, so a long text
 * line is scanned once; it starts at 0 and is reset when an answer is found.
 * Checking that the id names a call in flight is the caller's job.
 */
long proto_next_answer(int protocol, const char *buf, size_t len, size_t *scanned,
                       proto_answer *ans, const char **why);

/*
 * Splits a result into the n returns a call asked for: at TABs for the text
 * protocols (data holds the answer line with its newline), as u32-prefixed
 * items for frame.  Returns how many there are (maybe not n), or -1 when a
 * frame payload is malformed; parts/lens are filled only when it is n.
 */
int proto_split_returns(int protocol, const char *data, size_t len, int n,
                        const char **parts, size_t *lens);

/*
 * Appends a call to b (empty on entry): its id, method and NULL-terminated
 * args, each arg passed through resolve (NULL: sent as is; a NULL result is
 * sent empty, and freed otherwise).  Returns 0, or -1 when b could not grow.
 */
int proto_write_call(rbuf *b, int protocol, uint32_t id, const char *method,
                     char *const *args, char *(*resolve)(const char *arg));

#endif
