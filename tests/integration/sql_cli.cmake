# CLI tests of `herald sql eval|check` (engineer "sql"): exact JSON lines, error messages with
# positions, exit codes, --event with a JSON-format event file and stdin.
if(TARGET herald)
  add_test(NAME cli_sql
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/sql_cli_test.sh $<TARGET_FILE:herald>)
  set_tests_properties(cli_sql PROPERTIES LABELS "integration;cli" TIMEOUT 120)
endif()
