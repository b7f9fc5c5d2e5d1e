# Interop tests with the official CloudEvents JavaScript SDK (npm `cloudevents`, pinned in
# tests/interop/package.json; `scripts/deps.sh` or `npm install` in tests/interop fetches it).
# Registered only when node is installed; a missing node_modules fails the tests loudly.
#   interop_js_to_herald  JS SDK HTTP.binary/structured → `herald event decode`
#   interop_herald_to_js  `herald event encode --header-encoding compat` → JS SDK HTTP.toEvent
#   interop_heraldd       JS SDK emitter → heraldd → JS SDK receivers (binary and structured)
find_program(HERALD_NODE node)
if(HERALD_NODE)
  set(_interop ${CMAKE_CURRENT_LIST_DIR})
  if(TARGET herald)
    foreach(t js_to_herald herald_to_js)
      add_test(NAME interop_${t}
        COMMAND ${HERALD_NODE} --test-reporter=spec ${_interop}/${t}.test.js
        WORKING_DIRECTORY ${_interop})
      set_tests_properties(interop_${t} PROPERTIES LABELS "interop" TIMEOUT 120
        ENVIRONMENT "HERALD=$<TARGET_FILE:herald>")
    endforeach()
  endif()
  if(TARGET heraldd)
    add_test(NAME interop_heraldd
      COMMAND ${HERALD_NODE} --test-reporter=spec ${_interop}/heraldd.test.js
      WORKING_DIRECTORY ${_interop})
    set_tests_properties(interop_heraldd PROPERTIES LABELS "interop" TIMEOUT 120
      ENVIRONMENT "HERALDD=$<TARGET_FILE:heraldd>;HERALD=$<TARGET_FILE:herald>")
  endif()
else()
  message(STATUS "node not found: interop tests with the CloudEvents JS SDK are not registered")
endif()
