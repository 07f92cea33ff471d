/* url.c: ray-put --url, the bytes libcurl fetches (http, https, file),
 * staged in an unlinked temporary file so a failed fetch leaves no object. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <curl/curl.h>

#include "rayint.h"

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
	return fwrite(p, sz, n, (FILE *)ud) == n ? sz * n : 0;
}

int ray_put_url(ray_client *c, const char *url, char ref[RAY_REF_MAX + 1], ray_err *err)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	FILE *tmp = tmpfile();
	CURL *h;
	CURLcode cc;
	long status = 0;
	int rc;

	if (!tmp)
		return ray_seterr(err, RAY_EUSAGE, "cannot create a temporary file");
	h = curl_easy_init();
	if (!h) {
		fclose(tmp);
		return ray_seterr(err, RAY_EUSAGE, "cannot initialise libcurl");
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, tmp);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https,file");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	if (cc == CURLE_HTTP_RETURNED_ERROR) {
		fclose(tmp);
		return ray_seterr(err, RAY_ENOTFOUND, "cannot fetch '%s': the server answered HTTP %ld%s",
		                  url, status, status == 404 ? " (not found)" : "");
	}
	if (cc != CURLE_OK) {
		fclose(tmp);
		return ray_seterr(err, cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT
		                  ? RAY_EUSAGE : RAY_ENOTFOUND,
		                  "cannot fetch '%s': %s", url, ebuf[0] ? ebuf : curl_easy_strerror(cc));
	}
	if (fflush(tmp) || fseek(tmp, 0, SEEK_SET)) {
		fclose(tmp);
		return ray_seterr(err, RAY_EUSAGE, "cannot stage '%s'", url);
	}
	rc = ray_put_fd(c, fileno(tmp), ref, err);
	fclose(tmp);
	return rc;
}
