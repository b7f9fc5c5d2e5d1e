/*
 * print.c — output of the broker commands: JSON accessors that tolerate missing members, a
 * block-YAML writer for cJSON values, -o json|yaml printing, padded tables, and the checks of
 * names that go into admin URLs.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"

const char *cli__jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const cJSON *cli__jget(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

double cli__jnum(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

const cJSON *cli__ready_cond(const cJSON *obj)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cli__jget(obj, "status", "conditions"))
    {
        const char *t = cli__jstr(c, "type");
        if (t && !strcmp(t, "Ready"))
            return c;
    }
    return NULL;
}

/* YAML scalars that must be quoted to stay strings. */
static bool yaml_needs_quotes(const char *s)
{
    static const char *const special[] = {"true",  "false", "True", "False", "TRUE",
                                          "FALSE", "null",  "Null", "NULL",  "~",
                                          "yes",   "no",    "on",   "off",   NULL};
    if (!*s)
        return true;
    for (const char *const *p = special; *p; p++)
        if (!strcmp(s, *p))
            return true;
    if (strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]))
        return true;
    if (isdigit((unsigned char)s[0]) ||
        ((s[0] == '-' || s[0] == '.') && isdigit((unsigned char)s[1])))
        return true;
    size_t n = strlen(s);
    if (s[n - 1] == ' ' || s[n - 1] == ':')
        return true;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < ' ' || (p[0] == ':' && p[1] == ' ') || (p[0] == ' ' && p[1] == '#'))
            return true;
    return false;
}

static void yaml_scalar(FILE *f, const cJSON *v)
{
    if (cJSON_IsString(v)) {
        if (!yaml_needs_quotes(v->valuestring)) {
            fputs(v->valuestring, f);
            return;
        }
        /* a JSON string is a valid YAML double-quoted scalar */
        char *s = cJSON_PrintUnformatted(v);
        fputs(s ? s : "\"\"", f);
        free(s);
    } else if (cJSON_IsNumber(v)) {
        char *s = cJSON_PrintUnformatted(v);
        fputs(s ? s : "0", f);
        free(s);
    } else if (cJSON_IsTrue(v)) {
        fputs("true", f);
    } else if (cJSON_IsFalse(v)) {
        fputs("false", f);
    } else {
        fputs("null", f);
    }
}

static void yaml_key(FILE *f, const char *k)
{
    cJSON tmp = {0};
    tmp.type = cJSON_String;
    tmp.valuestring = (char *)k;
    yaml_scalar(f, &tmp);
}

/* Writes an object's members or an array's items starting on the current line (first item
 * right after a "- " when in_seq). */
void cli__yaml_node(FILE *f, const cJSON *v, int indent, bool in_seq)
{
    bool first = true;
    if (cJSON_IsObject(v)) {
        if (!v->child) {
            fputs("{}\n", f);
            return;
        }
        for (const cJSON *c = v->child; c; c = c->next) {
            if (!(first && in_seq))
                fprintf(f, "%*s", indent, "");
            first = false;
            yaml_key(f, c->string);
            fputc(':', f);
            if ((cJSON_IsObject(c) && c->child) || (cJSON_IsArray(c) && c->child)) {
                fputc('\n', f);
                cli__yaml_node(f, c, cJSON_IsArray(c) ? indent : indent + 2, false);
            } else if (cJSON_IsObject(c)) {
                fputs(" {}\n", f);
            } else if (cJSON_IsArray(c)) {
                fputs(" []\n", f);
            } else {
                fputc(' ', f);
                yaml_scalar(f, c);
                fputc('\n', f);
            }
        }
    } else if (cJSON_IsArray(v)) {
        if (!v->child) {
            fputs("[]\n", f);
            return;
        }
        for (const cJSON *c = v->child; c; c = c->next) {
            if (!(first && in_seq))
                fprintf(f, "%*s", indent, "");
            first = false;
            fputs("- ", f);
            if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && c->child) {
                cli__yaml_node(f, c, indent + 2, true);
            } else {
                yaml_scalar(f, c);
                fputc('\n', f);
            }
        }
    } else {
        yaml_scalar(f, v);
        fputc('\n', f);
    }
}

void cli__json_write(FILE *f, const cJSON *v, int width, const char *prefix)
{
    static int depth; /* nesting of the value being written (single-threaded CLI) */
    bool obj = cJSON_IsObject(v);
    if ((obj || cJSON_IsArray(v)) && v->child) {
        fputc(obj ? '{' : '[', f);
        depth++;
        for (const cJSON *c = v->child; c; c = c->next) {
            fprintf(f, "\n%s%*s", prefix, depth * width, "");
            if (obj) {
                cJSON key = {0};
                key.type = cJSON_String;
                key.valuestring = c->string;
                char *k = cJSON_PrintUnformatted(&key);
                fprintf(f, "%s: ", k ? k : "\"\"");
                free(k);
            }
            cli__json_write(f, c, width, prefix);
            if (c->next)
                fputc(',', f);
        }
        depth--;
        fprintf(f, "\n%s%*s%c", prefix, depth * width, "", obj ? '}' : ']');
        return;
    }
    char *s = cJSON_PrintUnformatted(v);
    fputs(s ? s : "null", f);
    free(s);
}

void cli__print_json(const cJSON *v)
{
    cli__json_write(stdout, v, 4, "");
    putchar('\n');
}

/* Prints objects as YAML documents (several separated by ---) or one JSON value. */
void cli__print_objects(const cJSON *items, bool as_list, const char *format)
{
    if (!strcmp(format, "json")) {
        if (as_list) {
            cJSON *l = cJSON_CreateObject();
            cJSON_AddStringToObject(l, "apiVersion", "v1");
            cJSON_AddStringToObject(l, "kind", "List");
            cJSON_AddItemToObject(l, "items", cJSON_Duplicate(items, 1));
            cli__print_json(l);
            cJSON_Delete(l);
        } else {
            cli__print_json(cJSON_GetArrayItem(items, 0));
        }
        return;
    }
    bool first = true;
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        if (!first)
            fputs("---\n", stdout);
        first = false;
        cli__yaml_node(stdout, it, 0, false);
    }
}

void cli__table_row(cli_table_t *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, cap * (size_t)t->ncols * sizeof *c);
        if (!c)
            return;
        t->cells = c;
        t->cap = cap;
    }
    for (int i = 0; i < t->ncols; i++)
        t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = strdup(cells[i] ? cells[i] : "");
    t->nrows++;
}

void cli__table_print(cli_table_t *t)
{
    size_t w[CLI_TABLE_MAX_COLS] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
            size_t n = s ? strlen(s) : 0;
            if (n > w[c])
                w[c] = n;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
            if (c + 1 == t->ncols)
                printf("%s\n", s ? s : "");
            else
                printf("%-*s   ", (int)w[c], s ? s : "");
        }
    }
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
}

/* Lower-case copy of a Kind for messages. */
void cli__lower(const char *s, char *out, size_t cap)
{
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[i] = '\0';
}

/* Checks a name for use in a URL path: DNS-1123 characters only. */
bool cli__path_safe(const char *s)
{
    if (!*s || strlen(s) > 253)
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-' || *s == '.'))
            return false;
    return true;
}

bool cli__kind_safe(const char *s)
{
    if (!*s || strlen(s) > 60)
        return false;
    for (; *s; s++)
        if (!isalpha((unsigned char)*s))
            return false;
    return true;
}

void cli__last_answer(const cJSON *stats, char *out, size_t cap, size_t body_max)
{
    double st = cli__jnum(stats, "lastStatus");
    const char *body = cli__jstr(stats, "lastBody"), *err = cli__jstr(stats, "lastError");
    out[0] = '\0';
    if (st > 0) {
        int n = snprintf(out, cap, "%.0f", st);
        if (n < 0 || (size_t)n >= cap)
            return;
        if (body && *body) {
            /* one line: control characters (newlines of an HTML page) become spaces */
            size_t o = (size_t)n, i = 0;
            if (o + 2 < cap) {
                out[o++] = ':';
                out[o++] = ' ';
            }
            for (; body[i] && i < body_max && o + 4 < cap; i++)
                out[o++] = (unsigned char)body[i] < ' ' ? ' ' : body[i];
            if (body[i] && o + 4 < cap) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            out[o] = '\0';
        }
    } else if (err && *err) {
        snprintf(out, cap, "%s", err);
    }
}
