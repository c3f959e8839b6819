# Wiring for tests/unit/cli_test.cc, included from tests/CMakeLists.txt after its targets exist:
#   include(${PROJECT_SOURCE_DIR}/apps/cli/cli_test.cmake)
# The test runs the built `sddb` binary, so it needs its path and must be built after it.
# (Without this file the test still finds the binary beside its own build folder, see
# cli_binary() in the test, but a `--target cli_test` build would not rebuild `sddb`.)
include_guard(GLOBAL)
if(TARGET cli_test AND TARGET sddb_cli)
  target_compile_definitions(cli_test PRIVATE SDDB_CLI_PATH="$<TARGET_FILE:sddb_cli>")
  add_dependencies(cli_test sddb_cli)
endif()
