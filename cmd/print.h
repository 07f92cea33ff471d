/* print.h: how the tools print what libray's status and list calls return,
 * so a list looks the same whichever tool shows it. */
#ifndef PRINT_H
#define PRINT_H

#include <stdio.h>

#include <cjson/cJSON.h>

/*
 * Prints a list (a JSON array from libray) on stdout: with as_json the array
 * indented, else one line per item, the view's columns separated by tabs
 * ("-" for a missing one).  view: nodes, tasks, objects, actors, pgs, jobs
 * (as ray-status names them) or store (ray-store ls).  ncols > 0 prints only
 * the first ncols columns.
 */
void print_list(const char *view, const char *json, int as_json, int ncols);
/* A JSON object: indented, or one KEY<TAB>VALUE line per number or string. */
void print_fields(const char *json, int as_json);
/* The cluster summary (ray_status): indented, or the human report. */
void print_summary(const char *json, int as_json);
/* The cluster summary as Prometheus text. */
void print_metrics(const char *json);
/* Member k of o: its string ("-" when absent or not one), its number (0). */
const char *print_str(const cJSON *o, const char *k);
double print_num(const cJSON *o, const char *k);
/* The tasks (ray_list "tasks") as a Chrome trace, one line, into f. */
void print_timeline(const char *tasks, FILE *f);

#endif
