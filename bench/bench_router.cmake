# bench_router measures the broker's trigger index: it needs the broker core.
if(TARGET bench_router AND TARGET herald_broker_core)
  target_link_libraries(bench_router PRIVATE herald_broker_core)
endif()
