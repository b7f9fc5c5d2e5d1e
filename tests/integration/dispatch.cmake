# Dispatcher integration: the test subscriber (a real HTTP server, reusable by other tests) and
# the dispatch tests that drive heraldd / the dispatcher against it.
add_executable(subscriber ${CMAKE_CURRENT_LIST_DIR}/subscriber.c)
target_include_directories(subscriber PRIVATE ${HTTP_PARSER_INCLUDE})
target_link_libraries(subscriber PRIVATE PkgConfig::UV ${HTTP_PARSER_LIB})
