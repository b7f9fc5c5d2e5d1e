# Interop tests with the official CloudEvents JavaScript SDK (npm `cloudevents`, pinned in
# tests/interop/package.json; `scripts/deps.sh` or `npm install` in tests/interop fetches it).
# Registered only when node is installed; a missing node_modules fails the tests loudly.
find_program(HERALD_NODE node)
if(HERALD_NODE AND TARGET herald)
  set(_interop ${CMAKE_CURRENT_LIST_DIR})
  foreach(t js_to_herald herald_to_js)
    add_test(NAME interop_${t} COMMAND ${HERALD_NODE} --test-reporter=spec ${_interop}/${t}.test.js
      WORKING_DIRECTORY ${_interop})
    set_tests_properties(interop_${t} PROPERTIES LABELS "interop" TIMEOUT 120
      ENVIRONMENT "HERALD=$<TARGET_FILE:herald>")
  endforeach()
elseif(NOT HERALD_NODE)
  message(STATUS "node not found: interop tests with the CloudEvents JS SDK are not registered")
endif()
