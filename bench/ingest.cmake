# http202: heraldd's HTTP server answering 202 at once (bench/ingest.sh --bare): the HTTP layer
# alone against nginx, without decode or store.
if(TARGET herald_broker_core)
  add_executable(http202 ${CMAKE_CURRENT_SOURCE_DIR}/http202.c)
  target_link_libraries(http202 PRIVATE herald_broker_core)
endif()
