// The TorchScript kind seen from a program that does not link libtorch, as the DB and the CLI
// are: libsddb_torchscript.so (and with it libtorch) is opened at the first TorchScript load and
// not before. The module is written by torchscript_fixture, which does link libtorch.

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "sddb/error.h"
#include "sddb/model.h"
#include "testing/errors.h"
#include "testing/temp_dir.h"

namespace sddb {
namespace {

bool libtorch_loaded() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("libtorch_cpu.so") != std::string::npos) return true;
  }
  return false;
}

TEST(TorchScriptLoader, OpensLibtorchOnlyAtTheFirstLoad) {
  EXPECT_FALSE(libtorch_loaded());
  const auto& kind = model_kind("torchscript");  // listing the kinds opens nothing
  EXPECT_FALSE(libtorch_loaded());

  testutil::TempDir dir;
  const auto path = dir.path() / "times_three.pt";
  const std::string cmd = std::string(SDDB_TORCHSCRIPT_FIXTURE) + " '" + path.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  TorchScriptOptions o;
  o.input_dim = 2;
  Model m = Model::torchscript("x3", path, o);
  m.set_runtime(std::make_shared<Model::Runtime>(kind.load(m.params(), *m.source_bytes())));
  EXPECT_TRUE(libtorch_loaded());
  EXPECT_EQ(m.dim(), 2u);
  EXPECT_EQ(m.predict(Value::array({Value(1), Value(2.5)})), (std::vector<float>{3, 7.5}));
  // Errors thrown inside the module are sddb::Errors here.
  EXPECT_EQ(testutil::code_of([&] { kind.load(m.params(), "junk"); }), ErrorCode::invalid_argument);
  EXPECT_EQ(testutil::code_of([&] { m.predict(Value::array({Value(1)})); }),
            ErrorCode::invalid_argument);
}

}  // namespace
}  // namespace sddb
