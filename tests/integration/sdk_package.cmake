# The SDK as a package: `cmake --install` into a temporary prefix, the tree moved elsewhere (the
# .pc files are relocatable), the examples compiled out of tree with pkg-config alone, a sender
# talking to a receiver over loopback, and the shared library exporting only the public API.
if(TARGET herald_ce_shared AND TARGET herald_ce_client)
  if(HERALD_SANITIZE)
    set(sdk_pkg_cflags "-fsanitize=address,undefined")
  else()
    set(sdk_pkg_cflags "")
  endif()
  add_test(NAME sdk_package
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/sdk_package_test.sh ${CMAKE_BINARY_DIR}
            ${CMAKE_SOURCE_DIR} "${CMAKE_C_COMPILER}" "${sdk_pkg_cflags}")
  set_tests_properties(sdk_package PROPERTIES LABELS "integration;sdk" TIMEOUT 300)
endif()
