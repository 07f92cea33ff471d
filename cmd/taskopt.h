/* taskopt.h: the resource and scheduling options of ray-submit and
 * ray-actor create, in one table with one validator, so that the two tools
 * can never accept different things (actors are placed "as for tasks"). */
#ifndef TASKOPT_H
#define TASKOPT_H

#include <getopt.h>

#include "tool.h"

/* getopt_long codes, above any short option a tool may use. */
enum {
	TASKOPT_CPUS = 0x100, TASKOPT_GPUS, TASKOPT_MEMORY, TASKOPT_RESOURCE, TASKOPT_ENV,
	TASKOPT_STRATEGY, TASKOPT_NODE, TASKOPT_LABEL, TASKOPT_PREFER_LABEL, TASKOPT_PG,
	TASKOPT_BUNDLE, TASKOPT_WORKING_DIR
};

/* Their lines in --help. */
#define TASKOPT_HELP \
	"  --cpus N                     CPUs to reserve (default 1; fractions and 0 allowed)\n" \
	"  --gpus N                     GPUs to reserve; CUDA_VISIBLE_DEVICES names them\n" \
	"  --memory SIZE                memory to reserve from the node's --memory (512M, 2G)\n" \
	"  --resource NAME=QTY          a custom resource to reserve (repeatable)\n" \
	"  --env K=V                    set K in the process's environment (repeatable)\n" \
	"  --strategy default|spread    local first, or round-robin over nodes that fit\n" \
	"  --node ID[:soft]             run on that node only (:soft: prefer it)\n" \
	"  --label KEY=VAL              run only on nodes with this label (repeatable)\n" \
	"  --prefer-label KEY=VAL       prefer nodes with this label\n" \
	"  --pg PG                      run in placement group PG\n" \
	"  --bundle I                   with --pg: in its bundle I (from 0)\n" \
	"  --working-dir DIR|REF        run in DIR on its node, or in a copy of the tar archive REF\n"

/* taskopt_parse's answer for an option that is not one of these. */
#define TASKOPT_NOT_MINE (-1)

/* The shared entries, spliced into a tool's struct option table. */
#define TASKOPT_OPTIONS                                                                    \
	{ "cpus", required_argument, 0, TASKOPT_CPUS },                                     \
	{ "gpus", required_argument, 0, TASKOPT_GPUS },                                     \
	{ "memory", required_argument, 0, TASKOPT_MEMORY },                                 \
	{ "resource", required_argument, 0, TASKOPT_RESOURCE },                             \
	{ "env", required_argument, 0, TASKOPT_ENV },                                        \
	{ "strategy", required_argument, 0, TASKOPT_STRATEGY },                             \
	{ "node", required_argument, 0, TASKOPT_NODE },                                     \
	{ "label", required_argument, 0, TASKOPT_LABEL },                                   \
	{ "prefer-label", required_argument, 0, TASKOPT_PREFER_LABEL },                     \
	{ "pg", required_argument, 0, TASKOPT_PG },                                         \
	{ "bundle", required_argument, 0, TASKOPT_BUNDLE },                                 \
	{ "working-dir", required_argument, 0, TASKOPT_WORKING_DIR }

/*
 * The options being parsed into *o.  The repeatable ones collect here
 * (pointers into argv, NULL-terminated), and o's resources, env and labels
 * point at these arrays, so a taskopt must live as long as *o is used.
 */
typedef struct taskopt {
	ray_task_opts *o; /* the caller's, filled in place */
	const char *res[TOOL_MAX_REPEAT + 1];
	const char *env[TOOL_MAX_REPEAT + 1];
	const char *labels[TOOL_MAX_REPEAT + 1];
	int nres, nenv, nlab;
	char wd[4096];    /* --working-dir made absolute */
} taskopt;

/* Links t to o (already set up by ray_task_opts_init). */
void taskopt_init(taskopt *t, ray_task_opts *o);
/* One option from getopt_long (c, arg): 0 when taken, TASKOPT_NOT_MINE when
 * c is not a task option, 2 after printing a one-line usage error. */
int taskopt_parse(taskopt *t, const char *prog, int c, const char *arg);
/* Runs getopt_long (opterr off), taking every task option on the way, and
 * returns the next other option's code, -1 at the end, or TASKOPT_ERROR
 * after printing a one-line usage error (exit status 2). */
#define TASKOPT_ERROR (-2)
int taskopt_next(taskopt *t, const char *prog, int argc, char **argv,
                 const struct option *lo);
/* After the last option, what the options say together (--bundle needs
 * --pg): 0, or 2 after printing a usage error. */
int taskopt_check(const taskopt *t, const char *prog);
/* --protocol ARG (actors and pooled workers): 0 with *out set, or 2 after
 * printing a usage error. */
int taskopt_protocol(const char *prog, const char *arg, const char **out);

#endif
