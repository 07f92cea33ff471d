/* subst.c: cmd/ray-node/launch.c's "@REF" handling (argv words, shell
 * lines, word edges) and place.c's label matching, checked on real values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cmd/ray-node/node.h"
#include "../../cmd/ray-node/launch.h"
#include "../../cmd/ray-node/place.h"
#include "unit.h"

/* A store with two objects, abc1 and abc2; every other ref is unknown. */
static int fake_path(const char *ref, char *path, size_t len)
{
	if (strcmp(ref, "abc1") && strcmp(ref, "abc2") && strcmp(ref, "0123456789abcdef"))
		return -1;
	snprintf(path, len, "/s/o/%s", ref);
	return 0;
}

static void check_subst(const char *line, const char *want, int lineno)
{
	char *got = subst_line(line, fake_path);

	unit_run++;
	if (!got || strcmp(got, want)) {
		unit_failed++;
		fprintf(stderr, "%s:%d: subst_line(\"%s\") is '%s', want '%s'\n", __FILE__, lineno, line,
		        got ? got : "(null)", want);
	}
	free(got);
}
#define SUBST(line, want) check_subst(line, want, __LINE__)

static void test_subst_line(void)
{
	char longref[RAY_REF_MAX + 3], line[RAY_REF_MAX + 16];

	SUBST("", "");
	SUBST("cat @abc1", "cat /s/o/abc1");
	SUBST("@abc1", "/s/o/abc1");
	SUBST("cat @abc1 @abc2 @abc1", "cat /s/o/abc1 /s/o/abc2 /s/o/abc1");
	SUBST("cat @abc1;wc <@abc2|sort", "cat /s/o/abc1;wc </s/o/abc2|sort");
	SUBST("(cat @abc1)&&x>@abc2", "(cat /s/o/abc1)&&x>/s/o/abc2");
	SUBST("cat\t@abc1\n", "cat\t/s/o/abc1\n");
	SUBST("x @0123456789abcdef y", "x /s/o/0123456789abcdef y");
	/* Not refs: inside a word, followed by a non-edge, not hex, empty. */
	SUBST("mail me@abc1", "mail me@abc1");
	SUBST("echo @abc1x @abc1.txt", "echo @abc1x @abc1.txt");
	SUBST("echo @ABC1", "echo @ABC1");
	SUBST("echo @ @; @", "echo @ @; @");
	SUBST("echo @@abc1", "echo @@abc1");
	SUBST("echo '@abc1'", "echo '@abc1'");
	/* Well formed but unknown: left as written. */
	SUBST("cat @dead @abc2", "cat @dead /s/o/abc2");
	/* Longer than any ref: left as written. */
	memset(longref, 'a', sizeof(longref));
	longref[0] = '@';
	longref[sizeof(longref) - 1] = '\0';
	snprintf(line, sizeof(line), "cat %s", longref);
	SUBST(line, line);
}

static void test_line_refs(void)
{
	char refs[4][RAY_REF_MAX + 1];
	int n;

	n = line_refs("cat @abc1;wc <@abc2|sort me@abc3 @abc4x @ff", refs, 4);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_STR(refs[0], "abc1");
	CHECK_EQ_STR(refs[1], "abc2");
	CHECK_EQ_STR(refs[2], "ff");
	CHECK_EQ_INT(line_refs("no refs here, a@b, @@c0", refs, 4), 0);
	/* At most max kept, and the count stops there (callers pass max+1
	 * to learn that a line names too many). */
	n = line_refs("@1 @2 @3 @4 @5 @6", refs, 4);
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_STR(refs[3], "4");
}

static void test_args(void)
{
	ray_err err = { 0, "" };
	char *s;

	CHECK(is_ref_arg("@abc1"));
	CHECK(is_ref_arg("@"));
	CHECK(!is_ref_arg("@@abc1"));
	CHECK(!is_ref_arg("abc1"));
	CHECK(!is_ref_arg(""));
	CHECK(ref_word_edge(' ') && ref_word_edge('\t') && ref_word_edge('\n'));
	CHECK(ref_word_edge(';') && ref_word_edge('|') && ref_word_edge('&'));
	CHECK(ref_word_edge('(') && ref_word_edge(')') && ref_word_edge('<') && ref_word_edge('>'));
	CHECK(!ref_word_edge('\0'));
	CHECK(!ref_word_edge('a') && !ref_word_edge('@') && !ref_word_edge('.') && !ref_word_edge('\''));

	CHECK_EQ_INT(task_arg_check("plain", &err), 0);
	CHECK_EQ_INT(task_arg_check("@@literal", &err), 0);
	CHECK_EQ_INT(task_arg_check("@", &err), RAY_EUSAGE);
	CHECK(strstr(err.msg, "malformed ref '@'") != NULL);
	CHECK_EQ_INT(task_arg_check("@xyz", &err), RAY_EUSAGE);
	CHECK_EQ_INT(task_arg_check("@ABC", &err), RAY_EUSAGE);
	CHECK_EQ_INT(task_arg_check("@abc1", &err), RAY_ENOTFOUND);
	CHECK_EQ_STR(err.msg, "unknown ref 'abc1'");

	s = task_arg_resolve("@@x");
	CHECK_EQ_STR(s, "@x");
	free(s);
	s = task_arg_resolve("plain@x");
	CHECK_EQ_STR(s, "plain@x");
	free(s);
	s = task_arg_resolve("@abc1");               /* gone from the store */
	CHECK_EQ_STR(s, "/dev/null");
	free(s);
}

static void test_labels(void)
{
	CHECK(labels_match("zone=a,gpu=h100", NULL));
	CHECK(labels_match("zone=a,gpu=h100", ""));
	CHECK(labels_match("", NULL));
	CHECK(labels_match("zone=a,gpu=h100", ",zone=a,"));
	CHECK(labels_match("zone=a,gpu=h100", ",gpu=h100,zone=a,"));
	CHECK(labels_match("zone=a,gpu=h100", "gpu=h100"));
	CHECK(!labels_match("zone=a,gpu=h100", ",zone=b,"));
	CHECK(!labels_match("zone=a,gpu=h100", ",zone=a,disk=ssd,"));
	CHECK(!labels_match("", ",zone=a,"));
	/* Whole items only: no prefix, suffix or key-only matches. */
	CHECK(!labels_match("zone=ab", ",zone=a,"));
	CHECK(!labels_match("xzone=a", ",zone=a,"));
	CHECK(!labels_match("zone=a", ",zone,"));
	CHECK(!labels_match("zone=a", ",one=a,"));
}

int main(void)
{
	N = calloc(1, sizeof(*N));
	if (!N)
		return 1;
	test_subst_line();
	test_line_refs();
	test_args();
	test_labels();
	free(N);
	return unit_done("subst");
}
