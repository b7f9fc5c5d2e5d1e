# libFuzzer target of `herald delete -f`'s manifest reader (cli/manifest_ids.c, libyaml's
# document loader): any bytes in, never a crash, a leak or a read out of bounds. Not named
# fuzz_*.c because fuzz.cmake builds those with the SDK alone; this one needs the CLI's files
# and libyaml. Seeds in tests/fuzz/seeds/fuzz_cli_manifest_ids/; same conventions as cli.cmake.
set(_cli_manifest_seeds ${CMAKE_CURRENT_LIST_DIR}/seeds/fuzz_cli_manifest_ids)
set(_cli_manifest_srcs ${CMAKE_CURRENT_LIST_DIR}/cli_manifest_ids_fuzz.c
  ${CMAKE_SOURCE_DIR}/cli/manifest_ids.c ${CMAKE_SOURCE_DIR}/cli/util_io.c)
if(HERALD_FUZZ)
  add_executable(fuzz_cli_manifest_ids ${_cli_manifest_srcs})
  target_compile_options(fuzz_cli_manifest_ids PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_cli_manifest_ids PRIVATE -fsanitize=fuzzer)
  add_test(NAME fuzz_seeds_fuzz_cli_manifest_ids
    COMMAND fuzz_cli_manifest_ids -runs=0 ${_cli_manifest_seeds})
else()
  add_executable(fuzz_cli_manifest_ids ${_cli_manifest_srcs} ${CMAKE_CURRENT_LIST_DIR}/fuzz_driver.c)
  add_test(NAME fuzz_seeds_fuzz_cli_manifest_ids
    COMMAND fuzz_cli_manifest_ids ${_cli_manifest_seeds})
endif()
target_include_directories(fuzz_cli_manifest_ids PRIVATE ${CMAKE_SOURCE_DIR}/cli
  ${HTTP_PARSER_INCLUDE})
target_link_libraries(fuzz_cli_manifest_ids PRIVATE herald_ce_static PkgConfig::YAML
  ${HTTP_PARSER_LIB})
set_tests_properties(fuzz_seeds_fuzz_cli_manifest_ids PROPERTIES LABELS "fuzz" TIMEOUT 300)
