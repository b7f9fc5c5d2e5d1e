/*
 * admin_ui.c — the web page of the admin API (DESIGN §11): GET /ui/ and the files it loads
 * (/ui/app.js, /ui/app.css), written in broker/ui/ and embedded at build time (ui/embed.cmake
 * generates ui_assets.c), and GET / redirecting to /ui/. The page reads the admin API from the
 * browser; nothing is fetched from anywhere else, which the Content-Security-Policy enforces.
 */
#include <stdio.h>
#include <string.h>

#include <http_parser.h>

#include "admin_internal.h"

/* Only this origin's files and API; no inline script or style, no frames, no plugins. */
#define UI_HEADERS                                                                                 \
    "Cache-Control: no-cache\r\n"                                                                  \
    "X-Content-Type-Options: nosniff\r\n"                                                          \
    "Content-Security-Policy: default-src 'self'; object-src 'none'; frame-ancestors 'none'; "     \
    "base-uri 'none'; form-action 'none'\r\n"

void hd_admin__ui(hd_http_req_t *req, const char *file, size_t len)
{
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        hd_admin__method_not_allowed(req, "GET, HEAD");
        return;
    }
    if (len == 0) {
        file = "index.html";
        len = strlen(file);
    }
    for (size_t i = 0; i < hd_admin__ui_nassets; i++) {
        const hd_admin__asset_t *f = &hd_admin__ui_assets[i];
        if (strlen(f->name) != len || memcmp(f->name, file, len) != 0)
            continue;
        char headers[512];
        snprintf(headers, sizeof headers, "Content-Type: %s\r\n" UI_HEADERS, f->type);
        hd_http_respond(req, 200, headers, (const char *)f->data, f->len);
        return;
    }
    hd_http_respond_error(req, 404, NULL, "no such file of the web page (see /ui/)");
}

void hd_admin__root(hd_http_req_t *req)
{
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        hd_admin__method_not_allowed(req, "GET, HEAD");
        return;
    }
    static const char body[] = "the web page is at /ui/\n";
    hd_http_respond(req, 302, "Location: /ui/\r\nContent-Type: text/plain\r\n", body,
                    sizeof body - 1);
}
