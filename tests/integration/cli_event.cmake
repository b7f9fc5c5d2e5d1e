# CLI tests of `herald event decode|encode|send`: exact outputs, error messages and exit codes,
# and `send` against a real HTTP receiver on 127.0.0.1 (cli_receiver.c).
if(TARGET herald)
  add_executable(cli_receiver ${CMAKE_CURRENT_LIST_DIR}/cli_receiver.c)
  target_include_directories(cli_receiver PRIVATE ${HTTP_PARSER_INCLUDE})
  target_link_libraries(cli_receiver PRIVATE ${HTTP_PARSER_LIB})
  foreach(group decode_http decode_errors decode_kafka decode_nats encode send)
    add_test(NAME cli_event_${group}
      COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cli_event_test.sh $<TARGET_FILE:herald>
              $<TARGET_FILE:cli_receiver> ${group})
    set_tests_properties(cli_event_${group} PROPERTIES LABELS "integration;cli" TIMEOUT 120)
  endforeach()
endif()
