# heraldd as an operator runs it: settings messages, signals (HUP reload and log reopen, USR1,
# USR2, QUIT), log numbers, and a stderr nobody reads.
if(TARGET heraldd)
  add_test(NAME integration_ops_heraldd
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/ops_heraldd.sh $<TARGET_FILE:heraldd>)
  set_tests_properties(integration_ops_heraldd PROPERTIES LABELS "integration" TIMEOUT 180)
endif()
