/* spill.h: spilling resident objects to disk and restoring them (spill.c). */
#ifndef SPILL_H
#define SPILL_H

#include "node.h"

/* What the spiller is doing, read by puts, prefetches and ray-store stats. */
extern char spill_dir[PATH_MAX];
extern uint64_t spilling_bytes;   /* resident bytes whose spill is in flight */
extern uint64_t spill_disk_bytes; /* bytes in spill files */
extern uint64_t restoring_bytes;  /* bytes being restored */
extern int nspill_io, nrestore_io;
extern char spill_why[512];       /* why the last spill failed or was skipped */

/* Spills least recently used objects until the resident bytes fit. */
void make_room(void);
/* Starts restoring a spilled object; its waiters and deps are told when done. */
void store_restore(obj *o);
/* Where o's complete spill file is and the sum it must have (0), or -1
 * when it has none: a local reader may copy it itself (ray-get --dir). */
int spill_file(const obj *o, char *path, size_t len, uint64_t *sum);
/* Removes o's spill file, if it has one. */
void drop_spill(obj *o);
/* o is being freed: a spill or restore in flight cleans up on completion. */
void spill_detach(obj *o);
void spill_forget(obj *o);
void spill_landed(obj *o);
/* Forgets the restores waiting to be tried again (the node is stopping). */
void spill_drop_retries(void);
/* Bytes of ready local objects that are only on disk. */
uint64_t store_spilled_bytes(void);
/* The spill directory, created under dir (NULL: <session>/spill). */
int spill_init(const char *dir, ray_err *err);
void spill_shutdown(void);

#endif
