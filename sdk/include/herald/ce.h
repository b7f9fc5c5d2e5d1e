/*
 * ce.h — the CloudEvents v1.0.2 event model of libherald-ce.
 *
 * An event holds its context attributes (required, optional and extensions) and its data as
 * bytes plus `datacontenttype`. Every attribute is kept as its canonical string exactly as it was
 * received (a Timestamp is never reformatted); Integer and Boolean attributes also carry their
 * native value. No I/O happens here: codecs for formats and bindings live in ce_json.h,
 * ce_http.h, ce_kafka.h and ce_nats.h.
 *
 * Threads: an event is not thread-safe; it may be moved between threads when handed over.
 * Memory: everything an event points to is owned by the event and freed by ce_event_free().
 */
#ifndef HERALD_CE_H
#define HERALD_CE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Only what this header declares is exported from libherald-ce.so: the library is built with
 * -fvisibility=hidden, so internal functions stay private to it. */
#pragma GCC visibility push(default)

/* The one error table of the SDK: X(name, message). */
#define CE_ERR_MAP(X)                                                                              \
    X(OK, "ok")                                                                                    \
    X(NOMEM, "out of memory")                                                                      \
    X(INVALID, "invalid CloudEvent")                                                               \
    X(MISSING, "required attribute missing")                                                       \
    X(NAME, "invalid attribute name")                                                              \
    X(TYPE, "attribute value does not match its type")                                             \
    X(DUPLICATE, "attribute given more than once")                                                 \
    X(SPECVERSION, "unsupported specversion")                                                      \
    X(JSON, "malformed JSON")                                                                      \
    X(UTF8, "invalid UTF-8")                                                                       \
    X(MEDIA_TYPE, "unsupported media type")                                                        \
    X(TOO_LARGE, "too large")                                                                      \
    X(NOT_FOUND, "not found")                                                                      \
    X(IO, "I/O error")                                                                             \
    X(HTTP, "HTTP transport error")                                                                \
    X(PARSE, "parse error")                                                                        \
    X(ARG, "invalid argument")

typedef enum {
#define CE__ERR_ENUM(name, msg) CE_E_##name,
    CE_ERR_MAP(CE__ERR_ENUM)
#undef CE__ERR_ENUM
        CE_E__COUNT
} ce_err_t;

/* Name of an error code ("INVALID"); never NULL. */
const char *ce_err_name(ce_err_t err);
/* Generic message of an error code ("required attribute missing"); never NULL. */
const char *ce_err_message(ce_err_t err);

/*
 * Detailed error filled by codecs and validation: the code plus a human message that names the
 * attribute and the rule it broke, e.g. "attribute 'time': not an RFC 3339 timestamp".
 * Callers may pass NULL wherever a ce_error_t * is accepted.
 */
typedef struct {
    ce_err_t code;
    char message[256];
} ce_error_t;

/* Sets err (if non-NULL) to code with a printf-style message; returns code. */
ce_err_t ce_error_set(ce_error_t *err, ce_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The CloudEvents type system (spec §1.2). */
typedef enum {
    CE_TYPE_STRING,
    CE_TYPE_URI,
    CE_TYPE_URI_REF,
    CE_TYPE_TIMESTAMP,
    CE_TYPE_INTEGER,
    CE_TYPE_BOOLEAN,
    CE_TYPE_BINARY,
} ce_type_t;

/*
 * An attribute value. `str`/`len` is always the canonical string (NUL-terminated, borrowed from
 * the event: valid until the attribute is changed or the event freed). For CE_TYPE_INTEGER `i`
 * holds the value, for CE_TYPE_BOOLEAN `b`; for CE_TYPE_BINARY `str` is the base64 text.
 */
typedef struct {
    ce_type_t type;
    const char *str;
    size_t len;
    int32_t i;
    bool b;
} ce_value_t;

typedef struct ce_event ce_event_t;

/*
 * Bounds of one event (the spec sets none; these keep lookups and decoders linear in practice):
 * at most CE_MAX_EXTENSIONS extension attributes (setting one more is CE_E_TOO_LARGE) and
 * attribute names of at most CE_MAX_NAME_LEN bytes (longer is CE_E_NAME; the spec only says
 * names SHOULD be at most 20 characters).
 */
#define CE_MAX_EXTENSIONS 1000
#define CE_MAX_NAME_LEN 128

/* Returns a new empty event (no attributes, no data), or NULL when out of memory. */
ce_event_t *ce_event_new(void);
/* Frees the event and everything it owns. Accepts NULL. */
void ce_event_free(ce_event_t *ev);
/* Frees the first n events of an array the library returned (ce_http_decode, batch decoders) and
 * the array itself. Accepts NULL. */
void ce_events_free(ce_event_t **evs, size_t n);
/* Returns a deep copy (free with ce_event_free), or NULL when out of memory. */
ce_event_t *ce_event_clone(const ce_event_t *ev);

/*
 * Sets attribute `name` from its canonical string `value` (`len` bytes, need not be
 * NUL-terminated). The type of a core attribute is known (id → String, source → URI-reference,
 * time → Timestamp, ...); an extension set this way is a String. The value is checked against
 * the type (UTF-8, forbidden characters, URI shape, RFC 3339, int32 range) and the name against
 * the naming rule. `datacontenttype` may be set here too. Replaces an earlier value.
 * Errors: CE_E_NAME, CE_E_TYPE, CE_E_UTF8, CE_E_TOO_LARGE (CE_MAX_EXTENSIONS), CE_E_NOMEM
 * (details in err). On error the event is unchanged.
 */
ce_err_t ce_event_set(ce_event_t *ev, const char *name, const char *value, size_t len,
                      ce_error_t *err);
/* ce_event_set for a NUL-terminated value: ce_event_set_str(ev, "type", "com.example.x", &err).
 * Errors as ce_event_set; CE_E_ARG when value is NULL (use ce_event_unset to remove). */
ce_err_t ce_event_set_str(ce_event_t *ev, const char *name, const char *value, ce_error_t *err);
/* Sets an extension attribute as an Integer. Errors: CE_E_NAME, CE_E_NOMEM. */
ce_err_t ce_event_set_int(ce_event_t *ev, const char *name, int32_t value, ce_error_t *err);
/* Sets an extension attribute as a Boolean. Errors: CE_E_NAME, CE_E_NOMEM. */
ce_err_t ce_event_set_bool(ce_event_t *ev, const char *name, bool value, ce_error_t *err);
/*
 * Sets an extension with an explicit type from its canonical string (e.g. CE_TYPE_BINARY with
 * base64 text, CE_TYPE_TIMESTAMP). Errors as ce_event_set.
 */
ce_err_t ce_event_set_typed(ce_event_t *ev, const char *name, ce_type_t type, const char *value,
                            size_t len, ce_error_t *err);
/* Removes an attribute (null means unset). Returns true when it was present. */
bool ce_event_unset(ce_event_t *ev, const char *name);

/*
 * Looks up attribute `name` (`name_len` bytes; lower-case names only). Returns a borrowed
 * pointer valid until the attribute is changed or the event freed, or NULL when absent.
 * This is the hot path of filters: no allocation.
 */
const ce_value_t *ce_event_get(const ce_event_t *ev, const char *name, size_t name_len);
/* Shorthand for the canonical string of an attribute, or NULL when absent. Borrowed. */
const char *ce_event_get_str(const ce_event_t *ev, const char *name);

/* Number of attributes present (required, optional and extensions, not data). */
size_t ce_event_attr_count(const ce_event_t *ev);
/*
 * The i-th attribute (0 <= i < count), in a stable order: specversion, id, source, type, then the
 * optional attributes, then extensions in the order they were set. Borrowed pointers.
 */
void ce_event_attr_at(const ce_event_t *ev, size_t i, const char **name, const ce_value_t **value);

/*
 * Data: bytes plus a flag saying whether the event has data at all (absent data differs from
 * empty data in the JSON format; "data": null is explicit JSON null and is stored as the 4 bytes
 * `null` with data_is_json set).
 * `is_json` says the bytes are a JSON text (set when decoded from the JSON format's `data`
 * member), so the JSON encoder can embed them as a value.
 */
ce_err_t ce_event_set_data(ce_event_t *ev, const void *data, size_t len, bool is_json);
/* Removes data. */
void ce_event_clear_data(ce_event_t *ev);
/* Returns true when the event has data; sets *data (borrowed) and *len. */
bool ce_event_data(const ce_event_t *ev, const void **data, size_t *len);
/* True when the data bytes are known to be a JSON text. */
bool ce_event_data_is_json(const ce_event_t *ev);

/*
 * Validates the event as CloudEvents v1.0.2 requires: id, source, specversion ("1.0") and type
 * present and non-empty; every attribute well-typed; names valid. On failure err names the
 * attribute and the rule, e.g. "attribute 'source': required attribute missing".
 * Errors: CE_E_MISSING, CE_E_SPECVERSION, CE_E_TYPE, CE_E_NAME.
 */
ce_err_t ce_event_validate(const ce_event_t *ev, ce_error_t *err);

/* True when `name` is a valid attribute name: 1..N characters of [a-z0-9], not "data". */
bool ce_attr_name_valid(const char *name, size_t len);
/* The type of a core attribute, or CE_TYPE_STRING for anything else (extensions). */
ce_type_t ce_attr_core_type(const char *name, size_t len);
/* Checks a value against a type (canonical string form). */
ce_err_t ce_value_check(ce_type_t type, const char *value, size_t len, ce_error_t *err);
/* True when `s` is valid UTF-8 (no overlongs, no surrogates). */
bool ce_utf8_valid(const char *s, size_t len);

/*
 * Compact binary form of an event, for storage (the broker's LMDB log) — not a wire format of
 * the spec. ce_event_pack writes into a buffer it allocates (*out, free with free()); pack of
 * the same event always gives the same bytes. ce_event_unpack builds a new event (free with
 * ce_event_free) and rejects truncated or corrupt input with CE_E_INVALID; it never reads past
 * `len`.
 */
ce_err_t ce_event_pack(const ce_event_t *ev, uint8_t **out, size_t *out_len);
ce_err_t ce_event_unpack(const uint8_t *buf, size_t len, ce_event_t **out, ce_error_t *err);

/* Allocator used by the whole SDK; tests replace it to make the n-th allocation fail. */
typedef struct {
    void *(*malloc)(size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
} ce_allocator_t;
/* Replaces the allocator (NULL restores libc's). Not thread-safe: call before any other use. */
void ce_set_allocator(const ce_allocator_t *a);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* HERALD_CE_H */
