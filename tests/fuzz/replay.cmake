# The seed corpus replayed through the fuzz targets' entry functions in the ordinary build
# (no clang, no libFuzzer): ctest fuzz_corpus_replay, label unit. Included by tests/.
set(FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
add_executable(fuzz_replay ${FUZZ_DIR}/replay.cpp ${FUZZ_DIR}/fuzz_config.cpp ${FUZZ_DIR}/fuzz_textmap.cpp
               ${FUZZ_DIR}/fuzz_imap.cpp ${FUZZ_DIR}/fuzz_address.cpp ${FUZZ_DIR}/fuzz_ldap.cpp ${FUZZ_DIR}/fuzz_mapdiff.cpp)
target_compile_definitions(fuzz_replay PRIVATE MAPSYNC_FUZZ_REPLAY)
target_link_libraries(fuzz_replay PRIVATE mapsync_config mapsync_importer mapsync_mailbox mapsync_directory mapsync_maps)
add_test(NAME fuzz_corpus_replay COMMAND fuzz_replay ${FUZZ_DIR}/corpus)
set_tests_properties(fuzz_corpus_replay PROPERTIES LABELS unit)
