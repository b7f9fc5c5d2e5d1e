/*
 * hd_flows.h — Sequence and Parallel (flows.knative.dev/v1) as Knative builds them: each flow is
 * a composition of channels and subscriptions, named the way Knative names them, so that
 * `herald get channels` and `herald get subscriptions` show the same objects a cluster would.
 *
 *   Sequence s, steps 0..n-1:
 *     channel      s-kn-sequence-i          (kind from spec.channelTemplate)
 *     subscription s-kn-sequence-i          channel i -> steps[i], reply -> channel i+1
 *                                           (the last one's reply -> spec.reply, if any)
 *   Parallel p, branches 0..n-1:
 *     channel      p-kn-parallel            the Parallel's address
 *     channel      p-kn-parallel-i
 *     subscription p-kn-parallel-filter-i   p-kn-parallel -> branches[i].filter (absent: every
 *                                           event passes), reply -> channel p-kn-parallel-i
 *     subscription p-kn-parallel-i          p-kn-parallel-i -> branches[i].subscriber,
 *                                           reply -> branches[i].reply, else spec.reply
 *
 * Every child carries an ownerReference to its flow (controller: true); the registry deletes the
 * children with the flow and refuses changes made to them directly. Pure: no I/O, any thread.
 */
#ifndef HERALD_HD_FLOWS_H
#define HERALD_HD_FLOWS_H

#include <cjson/cJSON.h>

#include "hd.h"

/* Knative's default channelTemplate (DESIGN: InMemoryChannel, durable in Herald). */
#define HD_FLOWS_DEFAULT_CHANNEL_API "messaging.knative.dev/v1"
#define HD_FLOWS_DEFAULT_CHANNEL_KIND "InMemoryChannel"

/*
 * Validates a Sequence or Parallel (`flow`, borrowed: the whole object with apiVersion, kind,
 * metadata.name and metadata.namespace) and builds its children. On success *children is a JSON
 * array (returns owned, free with cJSON_Delete) of complete objects in apply order — channels
 * first, then subscriptions — each with apiVersion, kind, metadata {name, namespace,
 * ownerReferences} and spec. Errors: HD_E_INVAL with `err` naming every field in error and the
 * problem, "; "-separated ("spec.steps: a Sequence needs at least one step", "spec.steps[1]:
 * refers to this Sequence itself: a cycle"), HD_E_NOMEM.
 */
hd_err_t hd_flows_expand(const cJSON *flow, cJSON **children, char *err, size_t cap);

/* The name of the channel that is a flow's address (Sequence: "<name>-kn-sequence-0",
 * Parallel: "<name>-kn-parallel") written into buf; false when kind is neither or buf is too
 * small. Pure. */
bool hd_flows_entry_channel(const char *kind, const char *name, char *buf, size_t cap);

/* True when `obj` (borrowed) has an ownerReference with controller: true to a Sequence or a
 * Parallel; *kind and *name (may be NULL) then point into `obj`. */
bool hd_flows_owner(const cJSON *obj, const char **kind, const char **name);

#endif /* HERALD_HD_FLOWS_H */
