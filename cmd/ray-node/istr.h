/* istr.h: strings kept once, however many records hold them (istr.c). */
#ifndef RAY_NODE_ISTR_H
#define RAY_NODE_ISTR_H

/* One more holder of the string equal to s (made on first use): the
 * same pointer for equal strings, valid until its last holder drops it;
 * NULL when out of memory. */
const char *istr_hold(const char *s);
/* One more holder of s, a string istr_hold returned: no lookup. */
const char *istr_share(const char *s);
/* Lets go of a string from istr_hold (NULL: nothing). */
void istr_drop(const char *s);

#endif
