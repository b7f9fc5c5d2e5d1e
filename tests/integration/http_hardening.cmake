# heraldd's HTTP server against misbehaving clients (issue #8): non-reading pipelining clients
# with an RSS bound, per-turn fairness, connection limits and fd exhaustion counted, 505, and the
# SIGTERM drain (python3 clients in http_clients.py, the test subscriber).
if(TARGET heraldd)
  add_test(NAME integration_http_hardening
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/http_hardening.sh $<TARGET_FILE:heraldd>
      $<TARGET_FILE:subscriber>)
  set_tests_properties(integration_http_hardening PROPERTIES LABELS "integration" TIMEOUT 300)
endif()
