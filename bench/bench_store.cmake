# bench_store drives the broker's store: it needs the broker core on top of the SDK.
if(TARGET bench_store AND TARGET herald_broker_core)
  target_link_libraries(bench_store PRIVATE herald_broker_core)
endif()
