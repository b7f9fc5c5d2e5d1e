/*
 * fuzz_hd_manifest.c — libFuzzer target of the manifest path (engineer "resources"): YAML/JSON
 * text through hd_manifest_parse, then the whole apply (validation, filter and CESQL
 * compilation, delivery and destination parsing, status) into an in-memory registry, then
 * get/list/delete of what was applied. Any input must give a result or a message, never a crash
 * or a leak.
 */
#include <stdint.h>
#include <string.h>

#include "hd_manifest.h"
#include "hd_resources.h"

static void done(void *arg, hd_err_t status, cJSON *result, const char *error)
{
    int *calls = arg;
    (*calls)++;
    if (status != HD_E_OK && (!error || !*error))
        __builtin_trap(); /* every refusal says why */
    (void)result;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *docs = NULL;
    char err[512];
    if (hd_manifest_parse((const char *)data, size, &docs, err, sizeof err) == HD_E_OK)
        cJSON_Delete(docs);

    hd_resources_t *r = NULL;
    if (hd_resources_open(NULL, NULL, &r) != HD_E_OK)
        return 0;
    int calls = 0;
    hd_resources_apply(r, (const char *)data, size, done, &calls);
    if (calls != 1)
        __builtin_trap(); /* without a store the answer is immediate */
    cJSON *all = hd_resources_list_json(r, NULL, NULL);
    const cJSON *it;
    cJSON_ArrayForEach(it, all)
    {
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(it, "metadata");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(it, "kind");
        const cJSON *ns = cJSON_GetObjectItemCaseSensitive(md, "namespace");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");
        if (!cJSON_IsString(kind) || !cJSON_IsString(ns) || !cJSON_IsString(name))
            __builtin_trap();
        cJSON *o = hd_resources_get_json(r, kind->valuestring, ns->valuestring, name->valuestring);
        if (!o)
            __builtin_trap();
        cJSON_Delete(o);
    }
    /* delete half of them (brokers first when listed first), exercising unbinding */
    int i = 0;
    cJSON_ArrayForEach(it, all)
    {
        if (i++ % 2)
            continue;
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(it, "metadata");
        calls = 0;
        hd_resources_delete(r, cJSON_GetObjectItemCaseSensitive(it, "kind")->valuestring,
                            cJSON_GetObjectItemCaseSensitive(md, "namespace")->valuestring,
                            cJSON_GetObjectItemCaseSensitive(md, "name")->valuestring, done,
                            &calls);
    }
    cJSON_Delete(all);
    hd_resources_close(r);
    return 0;
}
