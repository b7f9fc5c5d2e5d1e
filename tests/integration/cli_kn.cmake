# The `herald` commands a kn/kubectl user types (cli_kn_test.sh) against a real heraldd and real
# subscribers: kn-style create/update/delete, delete -f, -n/-A, -o json|yaml|wide, version,
# get -w, send/event send --field, herald listen, describe. Needs curl(1) and python3 (json,
# yaml).
# subscriber is built by dispatch.cmake (included after this file)
if(TARGET heraldd AND TARGET herald AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/subscriber.c)
  foreach(group resources output version watch send listen describe)
    add_test(NAME cli_kn_${group}
      COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cli_kn_test.sh $<TARGET_FILE:heraldd>
              $<TARGET_FILE:herald> $<TARGET_FILE:subscriber> ${group})
    set_tests_properties(cli_kn_${group} PROPERTIES LABELS "integration;cli" TIMEOUT 120)
  endforeach()
endif()
