/* hd_map.c — the intrusive chained hash map of hd_map.h. */
#include "hd_map.h"

#include <string.h>

uint64_t hd_map_hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* see hd_map.h: not FNV's offset basis */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return h;
}

hd_map_node_t *hd_map_find(const hd_map_t *m, const char *key, size_t len)
{
    if (!m->nbuckets)
        return NULL;
    uint64_t h = hd_map_hash(key, len);
    for (hd_map_node_t *n = m->buckets[h & (m->nbuckets - 1)]; n; n = n->next)
        if (n->hash == h && n->key_len == len && !memcmp(n->key, key, len))
            return n;
    return NULL;
}

hd_err_t hd_map_reserve(hd_map_t *m, size_t first)
{
    if (m->count < m->nbuckets)
        return HD_E_OK;
    size_t nb = m->nbuckets ? m->nbuckets * 2 : first;
    hd_map_node_t **b = hd_calloc(nb, sizeof *b);
    if (!b)
        return HD_E_NOMEM;
    for (size_t i = 0; i < m->nbuckets; i++) {
        hd_map_node_t *n = m->buckets[i];
        while (n) {
            hd_map_node_t *next = n->next;
            size_t j = n->hash & (nb - 1);
            n->next = b[j];
            b[j] = n;
            n = next;
        }
    }
    hd_free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
    return HD_E_OK;
}

void hd_map_link(hd_map_t *m, hd_map_node_t *n, const char *key, size_t len)
{
    n->key = key;
    n->key_len = len;
    n->hash = hd_map_hash(key, len);
    size_t j = n->hash & (m->nbuckets - 1);
    n->next = m->buckets[j];
    m->buckets[j] = n;
    m->count++;
}

bool hd_map_unlink(hd_map_t *m, hd_map_node_t *n)
{
    if (!m->nbuckets)
        return false;
    for (hd_map_node_t **pp = &m->buckets[n->hash & (m->nbuckets - 1)]; *pp; pp = &(*pp)->next) {
        if (*pp == n) {
            *pp = n->next;
            n->next = NULL;
            m->count--;
            return true;
        }
    }
    return false;
}

void hd_map_free(hd_map_t *m)
{
    if (!m)
        return;
    hd_free(m->buckets);
    memset(m, 0, sizeof *m);
}
