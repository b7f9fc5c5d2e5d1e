# The admin web page in a real browser (ui_heraldd.sh + ui_browser.js): headless Chromium (Debian
# `chromium`) driven over the DevTools protocol against a running heraldd. Always registered: a
# machine without chromium or node fails this test with a message saying what to install.
if(TARGET heraldd)
  add_test(NAME ui_browser
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/ui_heraldd.sh $<TARGET_FILE:heraldd>
            $<TARGET_FILE:subscriber>)
  set_tests_properties(ui_browser PROPERTIES LABELS "integration;ui" TIMEOUT 300)
endif()
