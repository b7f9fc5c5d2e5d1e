# Admin API and `herald` broker commands against a real heraldd on free ports (engineer
# "resources"): apply/get/list/delete round trip, bad filters -> 400 with the CESQL position,
# a trigger ready once its broker appears, resources surviving a restart, the CLI's exact
# outputs, tail receiving events POSTed to ingress, a slow tail reader's
# events dropped and counted, the example manifests
# applying cleanly, /metrics, and the same operations on a channel and its subscriptions. Needs curl(1).
if(TARGET heraldd AND TARGET herald)
  foreach(group roundtrip badfilter lateready restart cli tail slowtail examples metrics)
    add_test(NAME integration_admin_${group}
      COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/admin_test.sh $<TARGET_FILE:heraldd>
              $<TARGET_FILE:herald> ${group})
    set_tests_properties(integration_admin_${group} PROPERTIES LABELS "integration;admin" TIMEOUT 120)
  endforeach()
  # subscriber is built by dispatch.cmake (included after this file)
  if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/subscriber.c)
    add_test(NAME integration_admin_deliver
      COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/admin_test.sh $<TARGET_FILE:heraldd>
              $<TARGET_FILE:herald> deliver $<TARGET_FILE:subscriber>)
    set_tests_properties(integration_admin_deliver PROPERTIES LABELS "integration;admin" TIMEOUT 120)
    add_test(NAME integration_admin_channels
      COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/admin_test.sh $<TARGET_FILE:heraldd>
              $<TARGET_FILE:herald> channels $<TARGET_FILE:subscriber>)
    set_tests_properties(integration_admin_channels PROPERTIES LABELS "integration;admin" TIMEOUT 120)
  endif()
endif()
