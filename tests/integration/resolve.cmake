# Destinations that resolve and apply's strictness through a real heraldd (issue #12): an
# unresolvable dead-letter sink does not stop a broker, `ref: v1 Service` (herald.dev/url,
# services:), knativebrokerttl <= 0 refused at the ingress, POST /apply's errors.
if(TARGET heraldd)
  add_test(NAME integration_resolve_heraldd
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/resolve_heraldd.sh $<TARGET_FILE:heraldd>
      $<TARGET_FILE:subscriber>)
  set_tests_properties(integration_resolve_heraldd PROPERTIES LABELS "integration" TIMEOUT 180)
endif()
