# libFuzzer target of the CLI's raw HTTP request parser (cli/util_io.c) followed by the SDK's
# HTTP decode (engineer "cli"). The source is not named fuzz_*.c because fuzz.cmake builds those
# with the SDK alone; this one also needs cli/util_io.c and http-parser. Seeds in
# tests/fuzz/seeds/fuzz_cli_http_request/. Same conventions as fuzz.cmake: a libFuzzer binary
# with HERALD_FUZZ=ON, otherwise linked with fuzz_driver.c; ctest runs the seeds either way.
set(_cli_fuzz_seeds ${CMAKE_CURRENT_LIST_DIR}/seeds/fuzz_cli_http_request)
if(HERALD_FUZZ)
  add_executable(fuzz_cli_http_request ${CMAKE_CURRENT_LIST_DIR}/cli_http_request_fuzz.c
    ${CMAKE_SOURCE_DIR}/cli/util_io.c)
  target_compile_options(fuzz_cli_http_request PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_cli_http_request PRIVATE -fsanitize=fuzzer)
  add_test(NAME fuzz_seeds_fuzz_cli_http_request
    COMMAND fuzz_cli_http_request -runs=0 ${_cli_fuzz_seeds})
else()
  add_executable(fuzz_cli_http_request ${CMAKE_CURRENT_LIST_DIR}/cli_http_request_fuzz.c
    ${CMAKE_SOURCE_DIR}/cli/util_io.c ${CMAKE_CURRENT_LIST_DIR}/fuzz_driver.c)
  add_test(NAME fuzz_seeds_fuzz_cli_http_request COMMAND fuzz_cli_http_request ${_cli_fuzz_seeds})
endif()
target_include_directories(fuzz_cli_http_request PRIVATE ${CMAKE_SOURCE_DIR}/cli
  ${HTTP_PARSER_INCLUDE})
target_link_libraries(fuzz_cli_http_request PRIVATE herald_ce_static ${HTTP_PARSER_LIB})
set_tests_properties(fuzz_seeds_fuzz_cli_http_request PROPERTIES LABELS "fuzz" TIMEOUT 300)
