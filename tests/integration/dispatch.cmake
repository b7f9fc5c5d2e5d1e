# Dispatcher integration: the test subscriber (a real HTTP server, reusable by other tests) and
# the dispatch tests that drive heraldd / the dispatcher against it.
add_executable(subscriber ${CMAKE_CURRENT_LIST_DIR}/subscriber.c)
target_include_directories(subscriber PRIVATE ${HTTP_PARSER_INCLUDE})
target_link_libraries(subscriber PRIVATE PkgConfig::UV PkgConfig::CJSON ${HTTP_PARSER_LIB})

# The dispatcher against a real store, the real ingest path and the real subscriber.
if(TARGET herald_broker_core)
  add_executable(dispatch_test ${CMAKE_CURRENT_LIST_DIR}/dispatch_test.c)
  target_link_libraries(dispatch_test PRIVATE herald_broker_core PkgConfig::CHECK PkgConfig::CJSON m)
  target_compile_definitions(dispatch_test PRIVATE SUBSCRIBER="$<TARGET_FILE:subscriber>"
    HERALD_SHARED="${HERALD_SHARED}")
  add_dependencies(dispatch_test subscriber)
  add_test(NAME integration_dispatch COMMAND dispatch_test)
  set_tests_properties(integration_dispatch PROPERTIES LABELS "integration" TIMEOUT 600)
endif()

# Delivery through a real heraldd (manifests, curl, /metrics, kill -9 mid-retry).
if(TARGET heraldd)
  add_test(NAME integration_dispatch_heraldd
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/dispatch_heraldd.sh $<TARGET_FILE:heraldd> $<TARGET_FILE:subscriber>)
  set_tests_properties(integration_dispatch_heraldd PROPERTIES LABELS "integration" TIMEOUT 300)
endif()
