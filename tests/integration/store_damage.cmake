# A damaged store against a real heraldd: random bytes over records, a file truncated to a
# quarter, 20 small random writes, a 0-byte or missing data.mdb, random bytes over B-tree pages;
# `heraldd --check` on each and on a clean store (issue #8 item 3).
if(TARGET heraldd)
  add_test(NAME integration_store_damage_heraldd
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/store_damage_heraldd.sh $<TARGET_FILE:heraldd>
      $<TARGET_FILE:subscriber>)
  set_tests_properties(integration_store_damage_heraldd PROPERTIES LABELS "integration" TIMEOUT 300)
endif()
