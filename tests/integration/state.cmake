# What heraldd tells about its state, through a real heraldd and real subscribers: a trigger's
# failing state, backlogs of matched events, replay and tail --from counts, retention.min_age,
# and /metrics (series of deleted resources gone, broker label, process metrics).
if(TARGET heraldd AND TARGET herald)
  add_test(NAME integration_state_heraldd
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/state_heraldd.sh $<TARGET_FILE:heraldd>
            $<TARGET_FILE:subscriber> $<TARGET_FILE:herald>)
  set_tests_properties(integration_state_heraldd PROPERTIES LABELS "integration" TIMEOUT 300)
endif()
