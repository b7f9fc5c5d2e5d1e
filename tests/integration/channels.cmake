# Channels, Subscriptions, Sequence and Parallel through a real heraldd (curl, /metrics, the
# runnable and the Knative-original examples of conf/examples, kill -9 in a Sequence).
if(TARGET heraldd)
  add_test(NAME integration_channels_heraldd
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/channels_heraldd.sh $<TARGET_FILE:heraldd>
      $<TARGET_FILE:subscriber> ${PROJECT_SOURCE_DIR}/conf/examples)
  set_tests_properties(integration_channels_heraldd PROPERTIES LABELS "integration" TIMEOUT 300)
endif()
