/* err.c: error codes to exit statuses, and filling a caller's ray_err. */
#include <stdarg.h>
#include <stdio.h>

#include "ray.h"

int ray_exit_code(int rc)
{
	if (rc >= 0)
		return 0;
	if (rc < RAY_ENOTFOUND)
		return 1;
	return -rc;
}

int ray_seterr(ray_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}
