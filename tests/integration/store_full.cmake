# A full disk through a real heraldd: data_dir on a 20 MiB tmpfs mounted by the test (root only;
# elsewhere it exits 77 and ctest reports it skipped, never passed), filled to 503, /readyz 503,
# the rest of the filesystem taken by another file, drained by the subscriber, back to 202
# without a restart, and a restart on the full disk. Once per durability mode that differs in
# how data.mdb grows (fsync pre-zeroes ahead of LMDB's last page, batch does not).
if(TARGET heraldd)
  foreach(mode fsync batch)
    add_test(NAME integration_store_full_heraldd_${mode}
      COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/store_full_heraldd.sh $<TARGET_FILE:heraldd>
        $<TARGET_FILE:subscriber> ${mode})
    set_tests_properties(integration_store_full_heraldd_${mode} PROPERTIES LABELS "integration"
      TIMEOUT 400 SKIP_RETURN_CODE 77)
  endforeach()
endif()
