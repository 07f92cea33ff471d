/* dlist.h: intrusive doubly linked lists whose links are named fields of
 * the element, so one element can sit on several lists (a task is on the
 * table and on the run queue).  A list has a head and, for appending, a
 * tail; the _H forms are for lists kept by their head alone.  After
 * removal the element's own links are left as they were. */
#ifndef RAY_DLIST_H
#define RAY_DLIST_H

#define DL_REMOVE(head, tail, x, prev, next) do { \
	if ((x)->prev) \
		(x)->prev->next = (x)->next; \
	else \
		(head) = (x)->next; \
	if ((x)->next) \
		(x)->next->prev = (x)->prev; \
	else \
		(tail) = (x)->prev; \
} while (0)

#define DL_REMOVE_H(head, x, prev, next) do { \
	if ((x)->prev) \
		(x)->prev->next = (x)->next; \
	else \
		(head) = (x)->next; \
	if ((x)->next) \
		(x)->next->prev = (x)->prev; \
} while (0)

#define DL_APPEND(head, tail, x, prev, next) do { \
	(x)->prev = (tail); \
	(x)->next = NULL; \
	if (tail) \
		(tail)->next = (x); \
	else \
		(head) = (x); \
	(tail) = (x); \
} while (0)

#define DL_PUSH_H(head, x, prev, next) do { \
	(x)->prev = NULL; \
	(x)->next = (head); \
	if (head) \
		(head)->prev = (x); \
	(head) = (x); \
} while (0)

#endif
