/*
 * util_io.h — small I/O helpers of the `herald` CLI: bounded reads of stdin and files, and a
 * raw HTTP/1.1 request parser (http-parser) used by `herald event decode`.
 * Not thread-safe; the CLI is single-threaded.
 */
#ifndef HERALD_CLI_UTIL_IO_H
#define HERALD_CLI_UTIL_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "herald/ce_http.h"

/* Bounds of what the CLI reads (overflow policy: the command fails with "error: ..."). */
#define CLI_MAX_INPUT ((size_t)16 * 1024 * 1024) /* bytes read from stdin or a file */
#define CLI_MAX_HEADERS 256                      /* headers of one HTTP request */
#define CLI_MAX_HEADER_BYTES ((size_t)64 * 1024) /* request line plus all header bytes */

/* Prints "error: <message>" and a newline on stderr; returns code (the exit code to use). */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Formats a message into err (errsz bytes, truncated, always NUL-terminated when errsz > 0). */
void cli_set_error(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Reads all of `f` (at most `max` bytes) into a new NUL-terminated buffer.
 * Returns 0 and sets *out (owned: free with free()) and *len; returns -1 with a message in
 * `err` (errsz bytes) when reading fails, the input is larger than `max` or memory runs out.
 */
int cli_read_all(FILE *f, size_t max, char **out, size_t *len, char *err, size_t errsz);

/* Like cli_read_all for the file at `path` ("-" is stdin). Same ownership and errors. */
int cli_read_file(const char *path, size_t max, char **out, size_t *len, char *err, size_t errsz);

/*
 * A parsed HTTP/1.1 request. Header names and values point into the input buffer given to
 * cli_http_request_parse (borrowed: valid while it lives); the body is owned (de-chunked copy).
 * Free with cli_http_request_free.
 */
typedef struct {
    int method;     /* enum http_method */
    char url[8192]; /* request target, NUL-terminated */
    ce_header_t headers[CLI_MAX_HEADERS];
    size_t header_count;
    char *body; /* owned, NUL-terminated; never NULL after parse */
    size_t body_len;
} cli_http_request_t;

/*
 * Parses exactly one HTTP/1.1 request from `buf` (`len` bytes): request line, headers and a body
 * framed by Content-Length or chunked transfer encoding (which is removed). Trailing CR/LF after
 * the request are ignored; any other trailing byte is an error. Bounds: CLI_MAX_HEADERS headers,
 * CLI_MAX_HEADER_BYTES of head, `max_body` body bytes.
 * Returns 0 on success (free *req with cli_http_request_free), -1 with the reason in `err`.
 * `buf` must outlive *req.
 */
int cli_http_request_parse(const char *buf, size_t len, size_t max_body, cli_http_request_t *req,
                           char *err, size_t errsz);
/* Frees the body of a parsed request. Accepts NULL. */
void cli_http_request_free(cli_http_request_t *req);

#endif /* HERALD_CLI_UTIL_IO_H */
