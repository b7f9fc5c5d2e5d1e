# `herald` broker commands for channels, subscriptions, sequences and parallels against a fake
# admin API (cli_receiver.c, built by cli_event.cmake, answering canned JSON): the request each
# command sends and its exact output. Runs without heraldd.
if(TARGET herald)
  foreach(group get describe send tail dlq replay)
    add_test(NAME cli_admin_${group}
      COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cli_admin_test.sh $<TARGET_FILE:herald>
              $<TARGET_FILE:cli_receiver> ${group})
    set_tests_properties(cli_admin_${group} PROPERTIES LABELS "integration;cli" TIMEOUT 120)
  endforeach()
endif()
