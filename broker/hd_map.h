/*
 * hd_map.h — an intrusive chained hash map from byte-string keys to elements, shared by the
 * broker's registries (resources, router, metrics).
 *
 * The element embeds an hd_map_node_t and owns its key; the node borrows the key, which must
 * stay unchanged while the node is linked. Buckets are a power of two; a map grows by doubling
 * before an insert finds it as full as it has buckets (hd_map_reserve), and a new node goes to
 * the head of its chain, so iteration order (bucket by bucket, chain order) depends only on the
 * keys and the order of inserts and removals. The map frees only its bucket array, never the
 * elements. Not thread-safe: the owner locks or keeps it on one thread.
 */
#ifndef HERALD_HD_MAP_H
#define HERALD_HD_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "hd.h"

typedef struct hd_map_node {
    struct hd_map_node *next; /* hash chain */
    uint64_t hash;            /* hd_map_hash(key, key_len) */
    const char *key;          /* borrowed from the element */
    size_t key_len;
} hd_map_node_t;

/* A zeroed hd_map_t is an empty map with no buckets. */
typedef struct {
    hd_map_node_t **buckets; /* nbuckets chains */
    size_t nbuckets;         /* a power of two, or 0 */
    size_t count;            /* linked nodes */
} hd_map_t;

/*
 * The 64-bit hash of key[0..len): FNV-1a's step and prime from the offset basis
 * 1469598103934665603 (not FNV's published 14695981039346656037; kept as the registries had
 * it, so their hash order is unchanged). Any thread.
 */
uint64_t hd_map_hash(const char *key, size_t len);

/* The node whose key is key[0..len), or NULL. key is borrowed for the call. */
hd_map_node_t *hd_map_find(const hd_map_t *m, const char *key, size_t len);

/*
 * Makes room for one more node: when count >= nbuckets, allocates `first` buckets (a power of
 * two) for an empty map or doubles the table. Errors: HD_E_NOMEM, the map then unchanged (its
 * chains just grow longer if the caller links anyway, provided nbuckets > 0).
 */
hd_err_t hd_map_reserve(hd_map_t *m, size_t first);

/*
 * Links n under key[0..len) (borrowed: the element keeps it unchanged while linked) at the head
 * of its chain. Needs nbuckets > 0 (hd_map_reserve); never fails. The key must not be in the map.
 */
void hd_map_link(hd_map_t *m, hd_map_node_t *n, const char *key, size_t len);

/* Unlinks n; returns false (and changes nothing) when n is not linked in m. */
bool hd_map_unlink(hd_map_t *m, hd_map_node_t *n);

/* Frees the bucket array (not the elements) and zeroes the map. Accepts NULL. */
void hd_map_free(hd_map_t *m);

#endif /* HERALD_HD_MAP_H */
