/*
 * ce_internal.h — helpers shared between the files of libherald-ce (not installed).
 *
 * Allocation goes through ce__malloc/ce__realloc/ce__free so tests can make the n-th allocation
 * fail (ce_set_allocator). Media-type helpers, percent-coding and the JSON scanner used by the
 * JSON, HTTP, Kafka and NATS codecs live here too.
 */
#ifndef HERALD_CE_INTERNAL_H
#define HERALD_CE_INTERNAL_H

#include "herald/ce.h"
#include "herald/ce_http.h"
#include "herald/ce_json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The SDK allocator (ce_set_allocator). ce__free accepts NULL. */
void *ce__malloc(size_t n);
void *ce__realloc(void *p, size_t n);
void ce__free(void *p);
/* Returns an owned NUL-terminated copy of s[0..n) (free with ce__free), or NULL. */
char *ce__strndup(const char *s, size_t n);

/* ASCII lower-case of one byte. */
static inline char ce__lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}
/* Case-insensitive comparison of a[0..an) with the NUL-terminated lower-case literal b. */
static inline bool ce__ieq(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b); /* a literal: folded at compile time */
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (ce__lower(a[i]) != b[i])
            return false;
    return true;
}
/* True when a[0..an) starts with the lower-case literal prefix, case-insensitively. */
static inline bool ce__iprefix(const char *a, size_t an, const char *prefix)
{
    size_t pn = strlen(prefix);
    if (an < pn)
        return false;
    for (size_t i = 0; i < pn; i++)
        if (ce__lower(a[i]) != prefix[i])
            return false;
    return true;
}
/* The value of one hex digit (either case), or -1 when c is not one. */
static inline int ce__hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
/* Narrows the borrowed slice (*v, *n) past leading and trailing spaces and tabs (HTTP OWS). */
static inline void ce__trim_ows(const char **v, size_t *n)
{
    while (*n && (**v == ' ' || **v == '\t'))
        (*v)++, (*n)--;
    while (*n && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
        (*n)--;
}

/*
 * The media type of a Content-Type value: parameters removed, surrounding whitespace trimmed.
 * Sets *mt and *mt_len to a borrowed slice of ct (case preserved).
 */
void ce__media_type(const char *ct, size_t len, const char **mt, size_t *mt_len);
/* True when the media type is textual (text/..., x/xml, x/y+xml). */
bool ce__is_text_media(const char *ct, size_t len);

/*
 * Validates one JSON value starting at p (whitespace before it skipped). On success returns
 * the end of the value and sets *start to its first byte; NULL when malformed.
 * depth limits nesting.
 */
const char *ce__json_value_span(const char *p, const char *end, const char **start, int depth);
/* True when s[0..len) is one JSON text (a value with optional surrounding whitespace). */
bool ce__json_valid(const char *s, size_t len);
/* Appends s[0..len) as a JSON string literal (quotes included) to out. */
ce_err_t ce__json_append_string(ce_buf_t *out, const char *s, size_t len);

/* Base64 (RFC 4648, standard alphabet, padded): ce_base64_encode/ce_base64_decode (ce_json.h). */
size_t ce__b64_encoded_len(size_t n);

/* How one protocol binding writes an event (ce__encode). */
typedef struct {
    const char *prefix;              /* of attribute headers: "ce-" (HTTP, NATS) or "ce_" (Kafka) */
    const ce_header_encoding_t *enc; /* percent-encoding of their values; NULL: raw (Kafka) */
    /*
     * Binary mode: true (HTTP, Kafka) when datacontenttype, or the implied application/json,
     * is the content-type header and never an attribute header; false (NATS, which has no
     * content-type of its own) when it is an attribute header like any other, the implied type
     * included.
     */
    bool dct_as_content_type;
    const char *structured_ct; /* the content-type of structured mode */
} ce__binding_t;

/*
 * Encodes ev (borrowed) for binding b, structured (content-type plus the JSON form) or binary
 * (one header per attribute, the data as the body). On success sets *headers (owned, free with
 * ce__free; names and values point into *storage), *count, *storage (owned, ce_buf_free),
 * appends the body to body and sets *has_body (false only in binary mode without data).
 * On failure frees what it built, body included. Errors: CE_E_NOMEM.
 */
ce_err_t ce__encode(const ce_event_t *ev, bool structured, const ce__binding_t *b,
                    ce_header_t **headers, size_t *count, ce_buf_t *storage, ce_buf_t *body,
                    bool *has_body);

/*
 * Maps a decoded legacy v0.3 event onto v1.0 in place: specversion "0.3" → "1.0",
 * schemaurl → dataschema; datacontentencoding is dropped (the JSON decoder handles base64
 * before calling this). No-op for other specversions.
 */
ce_err_t ce__map_v03(ce_event_t *ev, ce_error_t *err);

/* Sets an attribute from a header value, CE_E_DUPLICATE when it is already set. */
ce_err_t ce__set_unique(ce_event_t *ev, const char *name, size_t name_len, const char *value,
                        size_t value_len, const char *what, ce_error_t *err);

/*
 * Decodes binary-mode attributes from headers named `prefix` + name ("ce-" or "ce_"; matched
 * case-insensitively). Used by HTTP, Kafka and NATS: values percent-decoded only when `pct`;
 * a datacontenttype header is used only when `dct_header` (NATS), else ignored.
 * Errors: CE_E_NAME (invalid name after the prefix), CE_E_DUPLICATE, CE_E_UTF8, CE_E_TYPE.
 */
ce_err_t ce__decode_binary_headers(const ce_header_t *hs, size_t n, const char *prefix, bool pct,
                                   bool dct_header, ce_event_t *ev, ce_error_t *err);

/*
 * Finishes decoding a binary-mode message into ev (whose attributes came from the headers):
 * sets datacontenttype to ct[0..ct_len) when ct is not NULL, the data to data[0..data_len)
 * when data is not NULL (an empty slice is empty data, NULL is no data), maps v0.3 onto 1.0
 * and validates. Shared by HTTP, Kafka and NATS. Errors: those of ce_event_set, CE_E_NOMEM,
 * those of ce__map_v03 and ce_event_validate. ev stays owned by the caller, also on failure.
 */
ce_err_t ce__finish_binary(ce_event_t *ev, const char *ct, size_t ct_len, const void *data,
                           size_t data_len, ce_error_t *err);

/* True when name is one of the eight attributes of the core spec. */
bool ce__is_core(const char *name, size_t len);

#endif /* HERALD_CE_INTERNAL_H */
