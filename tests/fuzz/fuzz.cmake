# Fuzz targets: every tests/fuzz/fuzz_*.c (except fuzz_driver.c) is one target, one C file
# defining LLVMFuzzerTestOneInput. It links herald_ce_static, plus herald_broker_core when its
# name starts with fuzz_hd_. Seeds live in tests/fuzz/seeds/<target name>/ (e.g.
# seeds/fuzz_json/), one input per file.
#
# HERALD_FUZZ=ON (clang): each target is a libFuzzer binary; run it as
#   build/tests/fuzz_json -max_total_time=60 tests/fuzz/seeds/fuzz_json
# HERALD_FUZZ=OFF: each target is linked with fuzz_driver.c, whose main runs every seed file
# through LLVMFuzzerTestOneInput once. Either way ctest runs the seeds as fuzz_seeds_<target>,
# so the seeds are exercised in every build.
#
# A fuzz_*.c that another fragment in tests/fuzz/ builds itself (its text contains
# "add_executable(<name>", e.g. because it needs extra sources) is left to that fragment.
file(GLOB HERALD_FUZZ_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/fuzz_*.c)
list(FILTER HERALD_FUZZ_SOURCES EXCLUDE REGEX ".*/fuzz_driver\\.c$")
file(GLOB herald_fuzz_frags CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cmake)
list(FILTER herald_fuzz_frags EXCLUDE REGEX ".*/fuzz\\.cmake$")
set(herald_fuzz_other_text "")
foreach(f ${herald_fuzz_frags})
  file(READ ${f} t)
  string(APPEND herald_fuzz_other_text "${t}\n")
endforeach()

foreach(src ${HERALD_FUZZ_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  string(FIND "${herald_fuzz_other_text}" "add_executable(${name}" owned)
  if(NOT owned EQUAL -1 OR TARGET ${name})
    continue()
  endif()
  set(libs herald_ce_static)
  if(name MATCHES "^fuzz_hd_")
    if(NOT TARGET herald_broker_core)
      message(STATUS "fuzz: skipping ${name} (herald_broker_core not available)")
      continue()
    endif()
    list(APPEND libs herald_broker_core)
  endif()
  set(seeds ${CMAKE_CURRENT_LIST_DIR}/seeds/${name})
  if(HERALD_FUZZ)
    add_executable(${name} ${src})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${name} PRIVATE ${libs})
    # -runs=0 executes the corpus once and exits
    add_test(NAME fuzz_seeds_${name} COMMAND ${name} -runs=0 ${seeds})
  else()
    add_executable(${name} ${src} ${CMAKE_CURRENT_LIST_DIR}/fuzz_driver.c)
    target_link_libraries(${name} PRIVATE ${libs})
    add_test(NAME fuzz_seeds_${name} COMMAND ${name} ${seeds})
  endif()
  set_tests_properties(fuzz_seeds_${name} PROPERTIES LABELS "fuzz" TIMEOUT 300)
endforeach()
