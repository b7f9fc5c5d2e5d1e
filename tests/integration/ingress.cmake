# Ingress integration tests (engineer "ingress"):
#   ingress_http — the HTTP server of heraldd (hd_http.h) against real sockets on 127.0.0.1.
#   ingress      — a real heraldd started on free ports with a generated config: every status of
#                  DESIGN §5, 202 only after fsync, kill -9 under load, map full -> 503.
if(TARGET herald_broker_core)
  add_executable(ingress_http ${CMAKE_CURRENT_LIST_DIR}/ingress_http.c)
  target_link_libraries(ingress_http PRIVATE herald_broker_core PkgConfig::CHECK)
  add_test(NAME integration_ingress_http COMMAND ingress_http)
  set_tests_properties(integration_ingress_http PROPERTIES LABELS "integration" TIMEOUT 300)
endif()
if(TARGET heraldd AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/ingress.c)
  add_executable(ingress_daemon ${CMAKE_CURRENT_LIST_DIR}/ingress.c)
  target_link_libraries(ingress_daemon PRIVATE herald_broker_core PkgConfig::CHECK)
  target_compile_definitions(ingress_daemon PRIVATE HERALDD_PATH="$<TARGET_FILE:heraldd>"
    HERALD_SHARED="${HERALD_SHARED}")
  add_dependencies(ingress_daemon heraldd)
  if(TARGET subscriber) # the dispatcher engineer's test subscriber: delivery after kill -9
    target_compile_definitions(ingress_daemon PRIVATE SUBSCRIBER="$<TARGET_FILE:subscriber>")
    add_dependencies(ingress_daemon subscriber)
  endif()
  add_test(NAME integration_ingress COMMAND ingress_daemon)
  set_tests_properties(integration_ingress PROPERTIES LABELS "integration" TIMEOUT 600)
endif()
